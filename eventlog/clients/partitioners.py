"""Partitioners: which partition of a topic a record goes to.

This module owns the key hashes (Kafka's Java-client murmur2, librdkafka's CRC-32 and FNV-1a),
the built-in partitioners, the name -> partitioner table (`get_partitioner`) and the check
applied to whatever a partitioner returns (`check_partition`).

A *partitioner* is any callable ``partitioner(key, partition_count) -> int`` where `key` is
the serialized key (`bytes`, or None for a keyless record) and `partition_count` is the
topic's number of partitions (always >= 1; the caller guarantees it). It must return an int
in ``[0, partition_count)``; the producer passes the result through `check_partition`, which
raises instead of wrapping a bad value into range.

Invariants:

* `murmur2` returns exactly what ``org.apache.kafka.common.utils.Utils.murmur2`` returns
  (a signed 32-bit int), so keyed records land on the partition the Java producer (and
  librdkafka's ``murmur2``/``murmur2_random``) would choose:
  ``(murmur2(key) & 0x7fffffff) % partition_count``.
* Keyed placement is a pure function of (key, partition_count) for every partitioner except
  ``random`` and ``round_robin``, which ignore keys. Randomness and per-instance state only
  ever affect keyless (or, for ``consistent_random``, empty-key) records.
* Partitioners are safe to share between threads: no lock is taken on the per-record path,
  and a race can only change *which* random partition a keyless record or a new sticky batch
  gets, never make a result invalid.

librdkafka compatibility: the classes behind the librdkafka names implement the partitioner
*functions* of ``rdkafka_msg.c`` (``rd_kafka_msg_partitioner_*``), including their treatment
of null keys. Note that librdkafka's producer itself (with the default
``sticky.partitioning.linger.ms``) does not call those functions for null keys (nor for empty
keys under ``consistent_random``) but sends such records to a sticky partition; in eventlog
that sticky behaviour is what `DefaultPartitioner` does for keyless records.
"""
import itertools
import operator
import random
import struct
import threading
import zlib

from eventlog.errors import InvalidArgumentError, InvalidTypeError

__all__ = [
    "murmur2", "to_positive", "kafka_partition", "fnv1a",
    "DefaultPartitioner", "RoundRobinPartitioner", "RandomPartitioner",
    "Murmur2Partitioner", "Murmur2RandomPartitioner",
    "ConsistentPartitioner", "ConsistentRandomPartitioner",
    "Fnv1aPartitioner", "Fnv1aRandomPartitioner",
    "PARTITIONER_NAMES", "get_partitioner", "check_partition",
]

# --------------------------------------------------------------------------------------------
# Hashes

_SEED = 0x9747B28C  # Kafka's seed; the multiplier 0x5BD1E995 is written inline (faster)
# Pre-built little-endian word unpackers for keys up to 64 words (259 bytes): building the
# format on each call costs more than hashing a short key.
_UNPACK = [struct.Struct("<%dI" % _n).unpack_from for _n in range(65)]
_unpack_from = struct.unpack_from  # longer keys: the struct module caches the format


def murmur2(data):
    """Kafka's murmur2 of `data` (bytes-like), as the signed 32-bit int Java returns.

    Port of ``org.apache.kafka.common.utils.Utils.murmur2`` (seed 0x9747b28c). The aligned
    part is unpacked as little-endian 32-bit words in one call; all arithmetic is done on
    Python ints masked to 32 bits (multiplications are masked once after the xor, which
    leaves the low 32 bits unchanged).
    """
    try:
        n = len(data)
        h = _SEED ^ n
        nw = n >> 2
        if nw:
            for w in (_UNPACK[nw](data) if nw <= 64 else _unpack_from("<%dI" % nw, data)):
                k = (w * 0x5BD1E995) & 0xFFFFFFFF
                h = (h * 0x5BD1E995 ^ (k ^ k >> 24) * 0x5BD1E995) & 0xFFFFFFFF
        r = n & 3
        if r:
            if r == 3:
                h ^= data[-1] << 16 | data[-2] << 8 | data[-3]
            elif r == 2:
                h ^= data[-1] << 8 | data[-2]
            else:
                h ^= data[-1]
            h = (h * 0x5BD1E995) & 0xFFFFFFFF
    except TypeError:
        raise InvalidTypeError(
            f"murmur2 needs bytes (or bytearray/memoryview), got {type(data).__name__}") from None
    h ^= h >> 13
    h = (h * 0x5BD1E995) & 0xFFFFFFFF
    h ^= h >> 15
    return h - 0x100000000 if h & 0x80000000 else h


def to_positive(n):
    """Kafka's ``Utils.toPositive``: clear the sign bit (not abs: -1 -> 0x7fffffff)."""
    return n & 0x7FFFFFFF


def kafka_partition(key, num_partitions):
    """The partition Kafka's Java producer picks for a non-null `key`:
    ``toPositive(murmur2(key)) % num_partitions``."""
    if num_partitions.__class__ is not int or num_partitions < 1:
        raise InvalidArgumentError(
            f"num_partitions must be an int >= 1, got {num_partitions!r}")
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions


def fnv1a(data):
    """librdkafka's ``rd_fnv1a``: 32-bit FNV-1a, then the absolute value of the hash read as
    a signed int (Sarama's NewHashPartitioner), returned as a non-negative int < 2**32.

    (-2**31 has no positive int32; C leaves it as is, which as unsigned is 2**31: so does this.)
    """
    h = 0x811C9DC5
    try:
        for b in data:
            h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    except TypeError:
        raise InvalidTypeError(
            f"fnv1a needs bytes (or bytearray/memoryview), got {type(data).__name__}") from None
    return 0x100000000 - h if h & 0x80000000 else h


# --------------------------------------------------------------------------------------------
# Partitioners

def _rng_randrange(seed):
    # The module-level generator is reseeded in fork() children; a private one is only used
    # when a seed is asked for (tests, reproducible runs).
    return random.randrange if seed is None else random.Random(seed).randrange


class DefaultPartitioner:
    """Kafka's default: murmur2 for keyed records, sticky partitioning (KIP-480) for keyless.

    Keyed records (including ``b""``) go to ``(murmur2(key) & 0x7fffffff) % partition_count``,
    the Java producer's placement. The positive hash of each `bytes` key of up to
    `max_cached_key_bytes` bytes is cached (at most `cache_size` keys; the cache is cleared
    when full, ``cache_size=0`` disables it), since pure-Python murmur2 costs about a
    microsecond and keys repeat (a lookup costs ~0.1 µs). A full cache of short keys holds
    about 13 MB and keeps those key objects alive.

    Keyless records (``key is None``) all go to the current *sticky partition* for that
    partition count, chosen at random on first use. The producer calls `new_batch` (alias
    `on_new_batch`) when the batch for the sticky partition is full or sent; that moves the
    sticky partition to a different random one (when there is more than one), so keyless
    records fill one batch at a time and spread over all partitions over many batches.

    Sticky state is kept per partition count, not per topic (a partitioner is not told the
    topic): use one instance per topic if topics of equal size must stick independently.
    """

    __slots__ = ("_cache", "_cache_size", "_max_key", "_sticky", "_randrange", "_lock")

    def __init__(self, *, cache_size=100_000, max_cached_key_bytes=64, seed=None):
        if cache_size.__class__ is not int or cache_size < 0:
            raise InvalidArgumentError(f"cache_size must be an int >= 0, got {cache_size!r}")
        if max_cached_key_bytes.__class__ is not int or max_cached_key_bytes < 0:
            raise InvalidArgumentError(
                f"max_cached_key_bytes must be an int >= 0, got {max_cached_key_bytes!r}")
        self._cache = {}
        self._cache_size = cache_size
        self._max_key = max_cached_key_bytes
        self._sticky = {}
        self._randrange = _rng_randrange(seed)
        self._lock = threading.Lock()

    def __call__(self, key, partition_count):
        if key is None:
            p = self._sticky.get(partition_count)
            if p is None:
                p = self._sticky.setdefault(partition_count, self._randrange(partition_count))
            return p
        if key.__class__ is bytes and len(key) <= self._max_key:
            cache = self._cache
            h = cache.get(key)
            if h is None:
                h = murmur2(key) & 0x7FFFFFFF
                if self._cache_size:
                    if len(cache) >= self._cache_size:
                        cache.clear()
                    cache[key] = h
            return h % partition_count
        return (murmur2(key) & 0x7FFFFFFF) % partition_count

    @property
    def hash_cache(self):
        """The dict {key: positive murmur2 hash} this partitioner fills (a producer reads it
        to place a keyed record without a call); do not modify it."""
        return self._cache

    def sticky_partition(self, partition_count):
        """The partition keyless records currently go to (picking one if there is none yet)."""
        return self(None, partition_count)

    def new_batch(self, partition_count, previous_partition=None):
        """Move the sticky partition for `partition_count` to a different random partition.

        Call it when the batch of the sticky partition is full or has been sent. If
        `previous_partition` is given and the sticky partition is no longer that one (another
        thread moved it already), nothing changes, as in Java's ``onNewBatch``. Returns the
        sticky partition now in force.
        """
        if partition_count.__class__ is not int or partition_count < 1:
            raise InvalidArgumentError(
                f"partition_count must be an int >= 1, got {partition_count!r}")
        with self._lock:
            current = self._sticky.get(partition_count)
            if previous_partition is not None and current is not None \
                    and current != previous_partition:
                return current
            if partition_count == 1:
                new = 0
            elif current is None or not 0 <= current < partition_count:
                new = self._randrange(partition_count)
            else:
                new = self._randrange(partition_count - 1)
                if new >= current:
                    new += 1
            self._sticky[partition_count] = new
            return new

    on_new_batch = new_batch

    def __repr__(self):
        return "DefaultPartitioner()"


class RoundRobinPartitioner:
    """Ignores keys and cycles through partitions 0, 1, ..., n-1, 0, ... (one counter shared by
    all partition counts; ``itertools.count`` makes it thread-safe)."""

    __slots__ = ("_next",)

    def __init__(self):
        self._next = itertools.count().__next__

    def __call__(self, key, partition_count):
        return self._next() % partition_count

    def __repr__(self):
        return "RoundRobinPartitioner()"


class RandomPartitioner:
    """librdkafka ``random``: a uniformly random partition for every record, keys ignored."""

    __slots__ = ("_randrange",)

    def __init__(self, *, seed=None):
        self._randrange = _rng_randrange(seed)

    def __call__(self, key, partition_count):
        return self._randrange(partition_count)

    def __repr__(self):
        return "RandomPartitioner()"


class Murmur2Partitioner:
    """librdkafka ``murmur2``: Java-compatible murmur2 of the key; a null key is hashed as
    ``b""``, so all keyless records map to one partition (as librdkafka documents)."""

    __slots__ = ()

    def __call__(self, key, partition_count):
        return (murmur2(b"" if key is None else key) & 0x7FFFFFFF) % partition_count

    def __repr__(self):
        return "Murmur2Partitioner()"


class Murmur2RandomPartitioner:
    """librdkafka ``murmur2_random``: murmur2 for non-null keys (``b""`` included), a random
    partition per record for null keys (the Java producer's keyed placement)."""

    __slots__ = ("_randrange",)

    def __init__(self, *, seed=None):
        self._randrange = _rng_randrange(seed)

    def __call__(self, key, partition_count):
        if key is None:
            return self._randrange(partition_count)
        return (murmur2(key) & 0x7FFFFFFF) % partition_count

    def __repr__(self):
        return "Murmur2RandomPartitioner()"


class ConsistentPartitioner:
    """librdkafka ``consistent``: ``crc32(key) % n`` (zlib's CRC-32); null and empty keys have
    CRC 0 and so all go to partition 0."""

    __slots__ = ()

    def __call__(self, key, partition_count):
        if key is None:
            return 0
        return zlib.crc32(key) % partition_count

    def __repr__(self):
        return "ConsistentPartitioner()"


class ConsistentRandomPartitioner:
    """librdkafka ``consistent_random`` (its default): ``crc32(key) % n`` for non-empty keys,
    a random partition per record for null *or empty* keys."""

    __slots__ = ("_randrange",)

    def __init__(self, *, seed=None):
        self._randrange = _rng_randrange(seed)

    def __call__(self, key, partition_count):
        if not key:
            return self._randrange(partition_count)
        return zlib.crc32(key) % partition_count

    def __repr__(self):
        return "ConsistentRandomPartitioner()"


class Fnv1aPartitioner:
    """librdkafka ``fnv1a``: ``fnv1a(key) % n`` (Sarama-compatible); a null key is hashed as
    ``b""``, so all keyless records map to one partition."""

    __slots__ = ()

    def __call__(self, key, partition_count):
        return fnv1a(b"" if key is None else key) % partition_count

    def __repr__(self):
        return "Fnv1aPartitioner()"


class Fnv1aRandomPartitioner:
    """librdkafka ``fnv1a_random``: fnv1a for non-null keys, random for null keys."""

    __slots__ = ("_randrange",)

    def __init__(self, *, seed=None):
        self._randrange = _rng_randrange(seed)

    def __call__(self, key, partition_count):
        if key is None:
            return self._randrange(partition_count)
        return fnv1a(key) % partition_count

    def __repr__(self):
        return "Fnv1aRandomPartitioner()"


# --------------------------------------------------------------------------------------------
# Names and checks

_BY_NAME = {
    "default": DefaultPartitioner,
    "sticky": DefaultPartitioner,
    "round_robin": RoundRobinPartitioner,
    "random": RandomPartitioner,
    "consistent": ConsistentPartitioner,
    "consistent_random": ConsistentRandomPartitioner,
    "murmur2": Murmur2Partitioner,
    "murmur2_random": Murmur2RandomPartitioner,
    "fnv1a": Fnv1aPartitioner,
    "fnv1a_random": Fnv1aRandomPartitioner,
}

#: The names `get_partitioner` accepts.
PARTITIONER_NAMES = tuple(_BY_NAME)


def get_partitioner(partitioner):
    """Resolve a partitioner setting to a callable.

    * a name from `PARTITIONER_NAMES` (librdkafka's ``partitioner`` values plus
      ``"default"``/``"sticky"`` and ``"round_robin"``): a new instance, so state such as the
      sticky partition is never shared between callers;
    * None: a new `DefaultPartitioner`;
    * any other callable ``(key, partition_count) -> int``: returned unchanged.

    An unknown name raises `InvalidArgumentError`; a class (rather than an instance) or a
    non-callable raises `InvalidTypeError`.
    """
    if partitioner is None:
        return DefaultPartitioner()
    if isinstance(partitioner, str):
        cls = _BY_NAME.get(partitioner)
        if cls is None:
            raise InvalidArgumentError(
                f"unknown partitioner {partitioner!r}; use one of "
                f"{', '.join(PARTITIONER_NAMES)} or a callable (key, partition_count) -> int")
        return cls()
    if isinstance(partitioner, type):
        raise InvalidTypeError(
            f"partitioner must be a name or a callable (key, partition_count) -> int, got the "
            f"class {partitioner.__name__}; pass an instance, e.g. {partitioner.__name__}()")
    if not callable(partitioner):
        raise InvalidTypeError(
            f"partitioner must be a name or a callable (key, partition_count) -> int, got "
            f"{type(partitioner).__name__} {partitioner!r}")
    return partitioner


def _describe(source):
    if isinstance(source, str):
        return source
    name = getattr(source, "__qualname__", None)
    return f"partitioner {name}" if isinstance(name, str) else f"partitioner {source!r}"


def check_partition(p, count, source):
    """Return `p` if it is an int in ``[0, count)``, else raise `InvalidArgumentError`.

    `source` names where `p` came from in the message: a string (used as is) or the
    partitioner itself. bool is refused even though it is an int subclass, and no value is
    ever wrapped or clamped into range.
    """
    if p.__class__ is int and 0 <= p < count:
        return p
    what = _describe(source)
    if isinstance(p, bool) or not hasattr(type(p), "__index__"):
        raise InvalidArgumentError(
            f"{what} returned {p!r} of type {type(p).__name__}; "
            f"a partition must be an int in [0, {count})")
    p = operator.index(p)  # int subclasses and integer types such as numpy.int64
    if 0 <= p < count:
        return p
    raise InvalidArgumentError(
        f"{what} returned partition {p}, outside [0, {count}) "
        f"(the topic has {count} partition{'' if count == 1 else 's'})")
