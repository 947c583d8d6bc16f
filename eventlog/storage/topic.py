"""Topics: validated names, the persisted per-topic configuration, and the Topic handle.

Invariants: a topic directory appears under `topics/` only whole (it is built under a
temporary name and renamed into place, so two processes creating the same topic cannot both
succeed); `topic.json` is replaced atomically; topic names are checked against Kafka's rules
before any path is built from them, so no name can reach outside the log directory.

Topic ids (Kafka's KIP-516): every topic has an incarnation id, `Topic.topic_id`, a random
UUID written into `topic.json` (key `"topic_id"`) when the topic is created and never changed
afterwards (`alter` keeps it). A topic deleted and created again under the same name gets a
new id, so anything recorded against the old topic (committed offsets) can be told apart from
the new one. The text form is Kafka's: the 16 bytes in URL-safe base64 without padding
(22 characters), never starting with "-".

Topics created before topic ids existed (eventlog 0.1: no "topic_id" in `topic.json`) have
the all-zero id `NO_TOPIC_ID` (Kafka's `Uuid.ZERO_UUID`, its "no id") for their whole life.
Nothing is written to give them a random one: offsets committed by 0.1 carry no id either, so a
random id would not tell an old incarnation's commits from this one's any better, and
stamping it would need a lock and a write merely to read a log (impossible on a read-only
directory). Offsets committed without an id count as committed against `NO_TOPIC_ID`, so such
a topic keeps its groups' progress across the upgrade, and re-creating it gives it a real id.
"""
import base64
import os
import re
import uuid

import attrs

from eventlog.storage import codec as _codec
from eventlog._os.fs import atomic_write_json, read_json, wrap_public_methods
from eventlog.storage.names import is_valid_topic_name, validate_topic_name  # noqa: F401  (the one topic-name rule; re-exported)
from eventlog.storage.partition import Partition
from eventlog.errors import (InvalidArgumentError, InvalidTypeError, UnknownPartitionError,
                     UnknownTopicError)

DAY_MS = 24 * 3600 * 1000
TOPIC_FILE = "topic.json"
NO_TOPIC_ID = "AAAAAAAAAAAAAAAAAAAAAA"   # Kafka's Uuid.ZERO_UUID: a topic made before ids existed
_TOPIC_ID_RE = re.compile(r"[A-Za-z0-9_-]{22}\Z")


def new_topic_id():
    """A fresh random topic id in Kafka's text form (as Kafka's Uuid.randomUuid: never the
    zero id, never starting with "-" so that it cannot pass for a command-line option)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if text != NO_TOPIC_ID and not text.startswith("-"):
            return text


def topic_id_of(doc):
    """The topic id recorded in a parsed `topic.json` (NO_TOPIC_ID when it has none)."""
    tid = doc.get("topic_id") if isinstance(doc, dict) else None
    return tid if isinstance(tid, str) and _TOPIC_ID_RE.match(tid) else NO_TOPIC_ID


def topic_document(config, topic_id):
    """What `topic.json` holds: the settings and the topic id."""
    doc = config.to_json()
    doc["topic_id"] = topic_id
    return doc


def read_topic_id(root, name):
    """The id of the topic `name` in the log at `root` as it is now, or None if there is no
    such topic (or `name` is not a valid topic name)."""
    if not isinstance(name, str) or name in (".", "..") or not is_valid_topic_name(name):
        return None
    try:
        return topic_id_of(read_json(os.path.join(root, "topics", name, TOPIC_FILE)))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except ValueError:   # damaged topic.json: not a topic anyone can use
        return None


def _pos_int(name, minimum=0, none_ok=False):
    def check(_inst, _attr, value):
        if value is None and none_ok:
            return
        if type(value) is not int or value < minimum:
            allowed = f"an int >= {minimum}" + (" or None" if none_ok else "")
            raise InvalidArgumentError(f"{name} must be {allowed}, got {value!r}")
    return check


def _choice(name, allowed):
    def check(_inst, _attr, value):
        if value not in allowed:
            raise InvalidArgumentError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return check


_CONFIG_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
MAX_CLIENT_CONFIGS = 200
MAX_CONFIG_NAME = 255      # Kafka's config names are far shorter; a bound on what topic.json holds


def _client_configs(_inst, _attr, value):
    if len(value) > MAX_CLIENT_CONFIGS:
        raise InvalidArgumentError(f"client_configs has {len(value)} entries; at most {MAX_CLIENT_CONFIGS}")
    for k, v in value.items():
        if not isinstance(k, str) or not _CONFIG_NAME_RE.match(k) or len(k) > MAX_CONFIG_NAME:
            raise InvalidArgumentError(
                f"client_configs: {k!r} is not a config name (lower-case letters, digits, '.', '_', '-')")
        if not isinstance(v, str) or len(v) > 4096:
            raise InvalidArgumentError(f"client_configs[{k!r}] must be a str of at most 4096 characters, "
                                       f"got {type(v).__name__}: {v!r:.80}")


def _as_dict(value):
    if not hasattr(value, "items"):
        raise InvalidTypeError(f"client_configs must be a mapping of config name -> str, got "
                               f"{type(value).__name__}: {value!r:.80}")
    return dict(value)


def _ratio(_inst, _attr, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        raise InvalidArgumentError(f"min_cleanable_dirty_ratio must be a number in [0, 1], got {value!r}")


@attrs.frozen
class TopicConfig:
    """A topic's settings. Names and units follow Kafka's topic configs."""

    partitions: int = attrs.field(validator=_pos_int("partitions", 1))
    retention_ms: int | None = attrs.field(default=7 * DAY_MS, validator=_pos_int("retention_ms", 0, True))
    retention_bytes: int | None = attrs.field(default=None, validator=_pos_int("retention_bytes", 0, True))
    segment_bytes: int = attrs.field(default=64 << 20, validator=_pos_int("segment_bytes", 1024))
    segment_ms: int | None = attrs.field(default=None, validator=_pos_int("segment_ms", 1, True))
    #: "delete" (retention), "compact", both (in either order), or "" (Kafka 4.1+: neither
    #: deleted nor compacted, records are kept until deleted by hand); the order given is kept
    cleanup_policy: str = attrs.field(default="delete", validator=_choice(
        "cleanup_policy", ("delete", "compact", "compact,delete", "delete,compact", "")))
    compression: str = attrs.field(default="none", validator=_choice("compression", ("none", "zstd")))
    compression_level: int = attrs.field(default=3, validator=_pos_int("compression_level", 1))
    max_record_bytes: int = attrs.field(default=1 << 20, validator=_pos_int("max_record_bytes", 1))
    fsync: str = attrs.field(default="never", validator=_choice("fsync", ("never", "batch")))
    delete_retention_ms: int = attrs.field(default=DAY_MS, validator=_pos_int("delete_retention_ms", 0))
    min_compaction_lag_ms: int = attrs.field(default=0, validator=_pos_int("min_compaction_lag_ms", 0))
    min_cleanable_dirty_ratio: float = attrs.field(default=0.5, validator=_ratio)
    # memory for the compactor's map of keys (more passes when a partition has more keys)
    cleaner_buffer_bytes: int = attrs.field(default=64 << 20, validator=_pos_int("cleaner_buffer_bytes", 1024))
    #: Kafka topic configs a client set that eventlog keeps but does not act on, by Kafka's
    #: name with the value as the client gave it ({"compression.type": "gzip",
    #: "file.delete.delay.ms": "1000"}), so that describing the topic gives them back. Stored
    #: in topic.json; eventlog's behaviour depends only on the fields above.
    client_configs: dict = attrs.field(factory=dict, converter=_as_dict, validator=_client_configs,
                                       hash=False)

    @property
    def codec(self):
        return _codec.CODEC_ZSTD if self.compression == "zstd" else _codec.CODEC_NONE

    def to_json(self):
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data):
        known = {a.name for a in attrs.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def make(cls, **kw):
        """Build a config from user keyword arguments, naming unknown ones clearly."""
        known = {a.name for a in attrs.fields(cls)}
        bad = sorted(set(kw) - known)
        if bad:
            raise InvalidArgumentError(f"unknown topic setting(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
        if kw.get("segment_bytes", 0) and kw["segment_bytes"] > (1 << 32) - 1:
            raise InvalidArgumentError(f"segment_bytes must be < 4 GiB, got {kw['segment_bytes']}")
        return cls(**kw)


@wrap_public_methods
class Topic:
    """A topic of a Log: its configuration and its partitions."""

    def __init__(self, log, name, config, stamp, topic_id=NO_TOPIC_ID, *, on_touch=None, on_roll=None):
        """`log` is the Log it belongs to (only its `path` is used); `on_touch` and `on_roll`
        are given to every partition (see `Partition`): the callbacks by which the layer
        above learns of partition use (its descriptor budget) and of segment rolls
        (retention), so that storage calls nothing above it."""
        self.name = name
        self.dir = os.path.join(log.path, "topics", name)
        self.config = config
        #: This incarnation's id (Kafka's topic id, KIP-516): set at creation, new for a topic
        #: deleted and created again; NO_TOPIC_ID for a topic made before topic ids existed.
        self.topic_id = topic_id
        #: (inode, mtime_ns, size) of `topic.json` when `config` was read, and the inode of the
        #: topic directory: the Log compares them to notice a topic altered or re-created
        self.stamp = stamp
        self.dir_ino = None
        self._parts = {}
        self._on_touch = on_touch
        self._on_roll = on_roll

    def __repr__(self):
        return f"<Topic {self.name!r} partitions={self.config.partitions} id={self.topic_id}>"

    @property
    def partitions(self):
        """All partitions, in order."""
        return [self.partition(i) for i in range(self.config.partitions)]

    @property
    def partition_count(self):
        return self.config.partitions

    def partition(self, number):
        """Partition `number` (0-based); UnknownPartitionError if there is none."""
        p = self._parts.get(number)
        if p is not None and number.__class__ is int:  # True == 1 must not find partition 1
            return p
        if type(number) is not int:
            raise InvalidTypeError(f"partition number must be an int, got {type(number).__name__}: {number!r}")
        if not 0 <= number < self.config.partitions:
            raise UnknownPartitionError(
                f"topic {self.name!r} has no partition {number}; it has {self.config.partitions} "
                f"(0..{self.config.partitions - 1})")
        p = self._parts[number] = Partition(self, number, on_touch=self._on_touch, on_roll=self._on_roll)
        return p

    def _reload(self):
        path = os.path.join(self.dir, TOPIC_FILE)
        self.config = TopicConfig.from_json(read_json(path))

    def alter(self, **settings):
        """Change settings of this topic (persisted atomically; other processes see them on
        their next lookup). `partitions` may only grow (new partitions start empty)."""
        new = attrs.evolve(self.config, **settings) if settings else self.config
        TopicConfig.make(**attrs.asdict(new))
        if new.partitions < self.config.partitions:
            raise InvalidArgumentError(
                f"partitions can only grow (topic {self.name!r} has {self.config.partitions}, asked {new.partitions})")
        path = os.path.join(self.dir, TOPIC_FILE)
        try:
            live = topic_id_of(read_json(path))
        except FileNotFoundError:
            live = None
        if live != self.topic_id:
            raise UnknownTopicError(
                f"topic {self.name!r} (id {self.topic_id}) was deleted"
                + ("" if live is None else f" and created again (id {live})")
                + f"; look it up again with log.topic({self.name!r})")
        for i in range(self.config.partitions, new.partitions):
            os.makedirs(os.path.join(self.dir, str(i)), exist_ok=True)
        atomic_write_json(path, topic_document(new, self.topic_id))
        self.config = new
        return new

    def add_partitions(self, total):
        """Grow the topic to `total` partitions (Kafka's CreatePartitions)."""
        return self.alter(partitions=total)

    def close(self, *, final=False):
        """Close the partitions' descriptors (they reopen lazily when used again); with
        `final=True` (the Log is closing) the partitions refuse further use."""
        for p in self._parts.values():
            p.close(final=final)
