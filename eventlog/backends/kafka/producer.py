"""KafkaProducer: eventlog's Producer API (send -> future of RecordMetadata, flush, close)
over a confluent-kafka Producer.

Rules it keeps:
- Keys land where a directory puts them: the partition of every keyed record is chosen here
  by eventlog's partitioner (`eventlog.clients.partitioners`, murmur2 as Kafka's Java client
  by default) and passed to librdkafka explicitly. Keyless records with the default
  partitioner go to librdkafka's sticky partitioning (KIP-480, as a directory's).
- A future resolves once, with the broker's acknowledgement (acks=all by default) or an
  EventLogError, on the producer's poll thread (or in flush()).
- Records of one partition are acknowledged in send order (idempotence on, so retries do
  not reorder or duplicate them).
"""
import threading
import time

from eventlog.backends.kafka._client import UNSUPPORTED_SETTINGS, ck, map_error, unsupported
from eventlog.clients import partitioners as _partitioners
from eventlog.clients.serde import serialize
from eventlog.errors import (BufferFullError, IllegalStateError, InvalidArgumentError, InvalidTypeError,
                             KafkaTimeoutError, ProducerClosedError, UnknownTopicError, EventLogError)
from eventlog.record import RecordMetadata

_cv = threading.Condition(threading.Lock())
_watched = {}             # id(future) -> future with waiters or done-callbacks, until it resolves
_in_callback = threading.local()   # .active: this thread is running send callbacks
_META_TTL_S = 30.0


class KafkaRecordFuture(dict):
    """The future of one sent record (concurrent.futures.Future-like, as the directory's
    RecordFuture): result(timeout) -> RecordMetadata, exception(timeout), done(),
    add_done_callback(fn).

    Cheap per record: librdkafka's delivery report resolves it through `dict.__setitem__`
    (`self[err] = msg`, C code, no Python frame per record); the RecordMetadata or error is
    built only when asked for. Futures with waiters or callbacks sit in `_watched`, which the
    producer's poll thread (and flush) settles after each batch of delivery reports
    (`_settle_watched`)."""

    __slots__ = ("topic", "_md", "_err", "_cbs")

    def set_exception(self, error):
        """Resolve this pending future with `error` (an EventLogError) instead of a delivery
        report; returns the future. For the producer that made it."""
        self._err = error
        self[None] = None
        return self

    def _outcome(self):
        """(RecordMetadata, None) or (None, EventLogError) of a resolved future."""
        try:
            if self._err is not None:
                return None, self._err
        except AttributeError:
            pass
        try:
            return self._md, None
        except AttributeError:
            pass
        (err, m), = self.items()
        if err is not None:
            self._err = map_error(err, f"send to topic {self.topic!r}")
            return None, self._err
        self._md = RecordMetadata(m.topic(), m.partition(), m.offset(), m.timestamp()[1])
        return self._md, None

    def _wait(self, timeout):
        if self:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        with _cv:
            _watched[id(self)] = self
            while not self:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                _cv.wait(0.1 if left is None else min(left, 0.1))
        return True

    def done(self):
        return bool(self)

    def running(self):
        return not self

    def cancelled(self):
        return False

    def cancel(self):
        return False

    def result(self, timeout=None):
        if not self and not self._wait(timeout):
            raise KafkaTimeoutError(f"record to {self.topic} not acknowledged within {timeout} s")
        md, err = self._outcome()
        if err is not None:
            raise err
        return md

    get = result

    def exception(self, timeout=None):
        if not self and not self._wait(timeout):
            raise KafkaTimeoutError(f"record to {self.topic} not acknowledged within {timeout} s")
        return self._outcome()[1]

    def add_done_callback(self, fn):
        """Call fn(future) once acknowledged or failed (at once if it already is); callbacks run
        on the producer's poll thread (or in flush()): keep them short."""
        with _cv:
            if not self:
                cbs = getattr(self, "_cbs", None)
                if cbs is None:
                    cbs = self._cbs = []
                cbs.append(fn)
                _watched[id(self)] = self
                return
        _run_callback(fn, self)

    def take_callbacks(self):
        """Remove and return the done-callbacks added so far (None if none), so that each runs
        once; for `_settle_watched`, with `_cv` held."""
        cbs = getattr(self, "_cbs", None)
        if cbs:
            self._cbs = None
        return cbs

    def __repr__(self):
        if not self:
            return f"<KafkaRecordFuture {self.topic} pending>"
        md, err = self._outcome()
        return f"<KafkaRecordFuture {self.topic} " + (f"error {err!r}>" if err else f"done {md!r}>")

    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other


def _run_callback(fn, fut):
    try:
        fn(fut)
    except Exception:
        import logging
        logging.getLogger("eventlog.producer").exception("exception in a send callback")


def _settle_watched():
    """Wake the waiters of resolved futures and run their done-callbacks, each exactly once."""
    if not _watched:
        return
    with _cv:
        ready = [f for f in _watched.values() if f]
        if not ready:
            return
        run = []
        for f in ready:
            del _watched[id(f)]
            cbs = f.take_callbacks()
            if cbs:
                run.append((f, cbs))
        _cv.notify_all()
    _in_callback.active = True
    try:
        for f, cbs in run:
            for fn in cbs:
                _run_callback(fn, f)
    finally:
        _in_callback.active = False


def _new_future(topic, _new=KafkaRecordFuture):
    f = _new()
    f.topic = topic
    return f


class KafkaProducer:
    """Writes records to topics of a KafkaLog. Thread-safe; a context manager.

    Options (the directory Producer's): linger_ms (5), batch_size (bytes; default librdkafka's
    batch.size, 1 MB), partitioner (None: Kafka's default, murmur2 for keys; a name or a
    callable (key, partition_count) -> int), key_serializer / value_serializer, buffer_memory
    (bytes; default librdkafka's queue.buffering.max.kbytes), max_block_ms (60000).
    Kafka-only: acks ("all"), config (raw librdkafka settings). `fsync=` raises
    UnsupportedOperationError."""

    def __init__(self, log, *, linger_ms=5, batch_size=None, partitioner=None, key_serializer=None,
                 value_serializer=None, fsync=None, buffer_memory=None, max_block_ms=60_000,
                 acks="all", config=None, _internal=False):
        if fsync is not None:
            raise unsupported(f"producer(fsync={fsync!r})", UNSUPPORTED_SETTINGS["fsync"])
        for name, v, lo in (("linger_ms", linger_ms, 0), ("batch_size", batch_size, 1),
                            ("buffer_memory", buffer_memory, 1), ("max_block_ms", max_block_ms, 0)):
            if v is None and name in ("batch_size", "buffer_memory"):
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < lo:
                raise InvalidArgumentError(f"{name} must be a number >= {lo}, got {v!r}")
        for name, fn in (("key_serializer", key_serializer), ("value_serializer", value_serializer)):
            if fn is not None and not callable(fn):
                raise InvalidTypeError(f"{name} must be a callable (object -> bytes), got {fn!r}")
        self._log = log
        self._partitioner = _partitioners.get_partitioner(partitioner)
        self._default = isinstance(self._partitioner, _partitioners.DefaultPartitioner)
        self._kser = key_serializer
        self._vser = value_serializer
        self.max_block = max_block_ms / 1000.0
        conf = log.client_config(**{
            "linger.ms": linger_ms, "acks": acks, "enable.idempotence": acks in ("all", -1, "-1"),
            "partitioner": "murmur2_random"})
        if batch_size is not None:       # None: librdkafka's own default (1 MB), not Java's 16 KiB
            conf["batch.size"] = int(batch_size)
        if buffer_memory is not None:
            conf["queue.buffering.max.kbytes"] = max(1, int(buffer_memory) // 1024)
        if config:
            conf.update(config)
        self._p = ck().Producer(conf)
        self._counts = {}         # topic -> (partition count, when looked up)
        self._pcache = {}         # topic -> {key: partition} (default partitioner only)
        self._fast = self._default and key_serializer is None and value_serializer is None
        self._produce = self._p.produce
        self._closed = False
        self._internal = _internal
        self._thread = threading.Thread(target=self._run, name="eventlog-kafka-producer", daemon=True)
        self._thread.start()
        if not _internal:
            log.add_client(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<KafkaProducer {self._log.url!r}{' closed' if self._closed else ''}>"

    def _run(self):
        p = self._p
        last = time.monotonic()
        while not self._closed:
            try:
                p.poll(0.05)
            except ck().KafkaException as e:   # a fatal error (e.g. a fenced transactional producer)
                self._on_fatal(e)
                time.sleep(0.05)
                continue
            if _watched:
                _settle_watched()
            if time.monotonic() - last > _META_TTL_S:   # partition counts of the fast path
                last = time.monotonic()
                for topic in list(self._pcache):
                    try:
                        self._count(topic)
                    except EventLogError:
                        self._pcache.pop(topic, None)

    def _on_fatal(self, exc):
        """The poll thread got a fatal error from librdkafka: log it (once); the producer's
        futures fail with it through their delivery reports."""
        if not getattr(self, "_fatal_logged", False):
            self._fatal_logged = True
            import logging
            logging.getLogger("eventlog.producer").error("fatal producer error: %s", exc)

    def _count(self, topic):
        c = self._counts.get(topic)
        if c is not None and time.monotonic() - c[1] < _META_TTL_S:
            return c[0]
        n = self._log.partition_count(topic)   # UnknownTopicError
        if c is None or c[0] != n:
            self._pcache[topic] = {}
        self._counts[topic] = (n, time.monotonic())
        return n

    def partitions_for(self, topic):
        """The partition numbers of `topic`."""
        return list(range(self._count(topic)))

    def send(self, topic, value=None, key=None, headers=None, partition=None, timestamp_ms=None,
             _new=KafkaRecordFuture):
        """Queue one record for `topic`; return a future of its RecordMetadata at once.
        Argument errors raise here; unknown topic or partition, too large records and broker
        errors resolve the future with an EventLogError."""
        # The fast path: default partitioner, bytes key and value, nothing else, a topic seen
        # before: the key's partition comes from a per-topic cache.
        if headers is None and partition is None and timestamp_ms is None and self._fast \
                and key.__class__ is bytes and value.__class__ is bytes:
            pc = self._pcache.get(topic)
            if pc is not None:
                p = pc.get(key)
                if p is None:
                    if len(pc) >= 100_000:
                        pc.clear()
                    p = pc[key] = self._partitioner(key, self._counts[topic][0])
                fut = _new()
                fut.topic = topic
                try:
                    self._produce(topic, value, key, p, on_delivery=fut.__setitem__)
                    return fut
                except BufferError:
                    pass
        return self._send(topic, value, key, headers, partition, timestamp_ms)

    def _send(self, topic, value, key, headers, partition, timestamp_ms):
        if self._closed:
            raise ProducerClosedError("send() after close(): create a new producer with log.producer()")
        if self._kser is not None:
            key = serialize(self._kser, key, "key", topic)
        if self._vser is not None:
            value = serialize(self._vser, value, "value", topic)
        if key is not None and key.__class__ is not bytes:
            key = _coerce(key, "key")
        if value is not None and value.__class__ is not bytes:
            value = _coerce(value, "value")
        fut = _new_future(topic)
        if partition is None:
            if key is None and self._default:
                try:
                    self._count(topic)   # an unknown topic fails the future now, as on a directory
                except EventLogError as e:
                    return fut.set_exception(e)
                p = -1     # librdkafka's sticky partitioner
            else:
                try:
                    n = self._count(topic)
                except UnknownTopicError as e:
                    return fut.set_exception(e)
                except EventLogError as e:
                    return fut.set_exception(e)
                try:
                    p = _partitioners.check_partition(self._partitioner(key, n), n, self._partitioner)
                except EventLogError as e:
                    return fut.set_exception(e)
        else:
            if isinstance(partition, bool) or not isinstance(partition, int):
                raise InvalidTypeError(f"partition must be an int, got {type(partition).__name__}: {partition!r}")
            p = partition
            try:
                n = self._count(topic)
            except EventLogError as e:
                return fut.set_exception(e)
            if not 0 <= p < n:
                return fut.set_exception(InvalidArgumentError(
                    f"partition={p} but topic {topic!r} has {n} partition(s) (0..{n - 1})"))
        if headers:
            headers = check_headers(headers)
        else:
            headers = None
        if timestamp_ms is not None and (isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int)
                                         or not 0 <= timestamp_ms < 2**63):
            raise InvalidArgumentError(f"timestamp_ms must be an int in [0, 2**63) (ms since the epoch), got {timestamp_ms!r}")
        produce = self._p.produce
        deadline = None
        while True:
            try:
                produce(topic, value, key, p, on_delivery=fut.__setitem__, timestamp=timestamp_ms or 0, headers=headers)
                return fut
            except BufferError:
                if deadline is None:
                    deadline = time.monotonic() + self.max_block
                elif time.monotonic() > deadline:
                    raise BufferFullError(f"the producer's buffer stayed full for max_block_ms="
                                          f"{self.max_block * 1000:.0f}") from None
                self._p.poll(0.01)
            except ck().KafkaException as e:
                return fut.set_exception(map_error(e, f"send to topic {topic!r}"))


    def flush(self, timeout=None):
        """Wait until everything sent so far is acknowledged (KafkaTimeoutError after
        `timeout` seconds)."""
        if threading.current_thread() is self._thread or getattr(_in_callback, "active", False):
            raise IllegalStateError("flush() inside a send callback would wait for itself; flush "
                                    "from another thread")
        left = self._p.flush(-1 if timeout is None else timeout)
        _settle_watched()
        if left:
            raise KafkaTimeoutError(f"flush did not finish within {timeout} s ({left} records unacknowledged)")

    def close(self, timeout=None):
        """Flush (bounded by `timeout`) and stop. Idempotent."""
        if self._closed:
            return
        self._fast = False
        try:
            self.flush(timeout)
        finally:
            self._closed = True
            if threading.current_thread() is not self._thread:
                self._thread.join()
            self._log.remove_client(self)

    @property
    def closed(self):
        return self._closed


def _coerce(x, what):
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    hint = " (encode it, or pass value_serializer=eventlog.clients.serde.str_serializer)" if isinstance(x, str) else ""
    raise InvalidTypeError(f"{what} must be bytes or None, got {type(x).__name__}{hint}")


def check_headers(headers):
    """Headers as a list of (str, bytes | None); InvalidTypeError naming the bad pair."""
    if isinstance(headers, (str, bytes, bytearray)) or not hasattr(headers, "__iter__"):
        raise InvalidTypeError(f"headers must be a sequence of (str, bytes) pairs, got {headers!r:.80}")
    out = []
    for h in headers:
        if not (isinstance(h, (tuple, list)) and len(h) == 2 and isinstance(h[0], str)
                and (h[1] is None or isinstance(h[1], (bytes, bytearray, memoryview)))):
            raise InvalidTypeError(f"headers must be (str, bytes | None) pairs, got {h!r:.80}")
        out.append((h[0], h[1] if h[1] is None or h[1].__class__ is bytes else bytes(h[1])))
    return out
