"""Topics: validated names, the persisted per-topic configuration, and the Topic handle.

Invariants: a topic directory appears under `topics/` only whole (it is built under a
temporary name and renamed into place, so two processes creating the same topic cannot both
succeed); `topic.json` is replaced atomically; topic names are checked against Kafka's rules
before any path is built from them, so no name can reach outside the log directory.
"""
import os

import attrs

from . import _codec
from ._fs import atomic_write_json, read_json, wrap_public_methods
from ._names import validate_topic_name  # noqa: F401  (the one topic-name rule; re-exported)
from ._partition import Partition
from .errors import InvalidArgumentError, InvalidTypeError, UnknownPartitionError

DAY_MS = 24 * 3600 * 1000


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
    cleanup_policy: str = attrs.field(default="delete", validator=_choice(
        "cleanup_policy", ("delete", "compact", "compact,delete")))
    compression: str = attrs.field(default="none", validator=_choice("compression", ("none", "zstd")))
    compression_level: int = attrs.field(default=3, validator=_pos_int("compression_level", 1))
    max_record_bytes: int = attrs.field(default=1 << 20, validator=_pos_int("max_record_bytes", 1))
    fsync: str = attrs.field(default="never", validator=_choice("fsync", ("never", "batch")))
    delete_retention_ms: int = attrs.field(default=DAY_MS, validator=_pos_int("delete_retention_ms", 0))
    min_compaction_lag_ms: int = attrs.field(default=0, validator=_pos_int("min_compaction_lag_ms", 0))
    min_cleanable_dirty_ratio: float = attrs.field(default=0.5, validator=_ratio)
    # memory for the compactor's map of keys (more passes when a partition has more keys)
    cleaner_buffer_bytes: int = attrs.field(default=64 << 20, validator=_pos_int("cleaner_buffer_bytes", 1024))

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

    def __init__(self, log, name, config, stamp):
        self._log = log
        self.name = name
        self.dir = os.path.join(log.path, "topics", name)
        self.config = config
        self._stamp = stamp
        self._parts = {}

    def __repr__(self):
        return f"<Topic {self.name!r} partitions={self.config.partitions}>"

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
        p = self._parts[number] = Partition(self, number)
        return p

    def _reload(self):
        path = os.path.join(self.dir, "topic.json")
        self.config = TopicConfig.from_json(read_json(path))

    def alter(self, **settings):
        """Change settings of this topic (persisted atomically; other processes see them on
        their next lookup). `partitions` may only grow (new partitions start empty)."""
        new = attrs.evolve(self.config, **settings) if settings else self.config
        TopicConfig.make(**attrs.asdict(new))
        if new.partitions < self.config.partitions:
            raise InvalidArgumentError(
                f"partitions can only grow (topic {self.name!r} has {self.config.partitions}, asked {new.partitions})")
        for i in range(self.config.partitions, new.partitions):
            os.makedirs(os.path.join(self.dir, str(i)), exist_ok=True)
        atomic_write_json(os.path.join(self.dir, "topic.json"), new.to_json())
        self.config = new
        return new

    def add_partitions(self, total):
        """Grow the topic to `total` partitions (Kafka's CreatePartitions)."""
        return self.alter(partitions=total)

    def close(self):
        for p in self._parts.values():
            p.close()
