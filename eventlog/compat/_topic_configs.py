"""Kafka topic configs <-> eventlog topic settings, for both facades' admin calls.

Rules kept: a Kafka config eventlog honours maps to one TopicConfig setting (and back, for
describe); a config that only tunes replication or broker I/O is accepted and ignored; any
other is refused with a ValueError naming it; a change is checked completely before the topic
is altered (nothing half-applied). Also: Kafka's max_timestamp offset lookup.
"""
from __future__ import annotations

from eventlog.storage.topic import TopicConfig


def _ms(v):
    n = int(v)
    return None if n < 0 else n


def _compression(v):
    v = str(v).lower()
    if v in ("uncompressed", "none", "producer"):
        return "none"
    if v in ("zstd", "gzip", "snappy", "lz4"):
        # eventlog compresses with zstd only; compression is invisible to readers
        return "zstd"
    raise ValueError(f"compression.type={v!r} is not a Kafka compression type")


_TOPIC_CONFIGS = {
    "retention.ms": ("retention_ms", _ms),
    "retention.bytes": ("retention_bytes", _ms),
    "segment.bytes": ("segment_bytes", int),
    "segment.ms": ("segment_ms", int),
    "cleanup.policy": ("cleanup_policy", lambda v: ",".join(sorted(x.strip() for x in str(v).split(",")))),
    "compression.type": ("compression", _compression),
    "max.message.bytes": ("max_record_bytes", int),
    "delete.retention.ms": ("delete_retention_ms", int),
    "min.compaction.lag.ms": ("min_compaction_lag_ms", int),
    "min.cleanable.dirty.ratio": ("min_cleanable_dirty_ratio", float),
}
# configs about replication, leaders, page cache or broker I/O: nothing to honour on one disk
_TOPIC_CONFIGS_IGNORED = {
    "min.insync.replicas", "unclean.leader.election.enable", "flush.messages", "flush.ms",
    "index.interval.bytes", "segment.index.bytes", "segment.jitter.ms", "preallocate",
    "file.delete.delay.ms", "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas", "message.downconversion.enable",
    "max.compaction.lag.ms", "message.timestamp.difference.max.ms",
    "message.timestamp.before.max.ms", "message.timestamp.after.max.ms", "local.retention.ms",
    "local.retention.bytes", "remote.storage.enable", "message.format.version",
}


def topic_settings(configs):
    """Kafka topic configs ({"retention.ms": "1000", ...}) -> eventlog create_topic settings.
    Raises ValueError naming a config that cannot be honoured."""
    out = {}
    for k, v in (configs or {}).items():
        if k in _TOPIC_CONFIGS:
            name, conv = _TOPIC_CONFIGS[k]
            try:
                out[name] = conv(v)
            except (TypeError, ValueError) as e:
                raise ValueError(f"topic config {k}={v!r}: {e}") from None
        elif k in _TOPIC_CONFIGS_IGNORED:
            continue
        elif k == "message.timestamp.type":
            if str(v) != "CreateTime":
                raise ValueError("message.timestamp.type=LogAppendTime is not supported: eventlog "
                                 "keeps the producer's timestamps (CreateTime)")
        else:
            raise ValueError(f"unknown topic config {k!r}")
    return out


def describe_topic_configs(config):
    """[(Kafka config name, value as str, set on the topic?)] of an eventlog TopicConfig, for the
    admin clients' describe_configs (a value differing from the default counts as set)."""
    default = TopicConfig(partitions=config.partitions)
    out = []
    for kafka_name, (name, _conv) in _TOPIC_CONFIGS.items():
        value = getattr(config, name)
        shown = {"none": "producer"}.get(value, value) if name == "compression" else value
        shown = -1 if shown is None else shown
        out.append((kafka_name, str(shown), value != getattr(default, name)))
    return out


def list_config_op(current, value, append):
    """APPEND (or SUBTRACT) the comma-separated `value` to (from) a list-valued config's
    `current` value, as a broker's IncrementalAlterConfigs does; returns the new value."""
    items = [x for x in str(current or "").split(",") if x]
    vals = [x for x in str(value or "").split(",") if x]
    items = items + [v for v in vals if v not in items] if append else [x for x in items if x not in vals]
    return ",".join(items)


def replace_topic_configs(topic, current, new, apply=True):
    """Make `new` ({Kafka config name: value}) the topic's set configs: each is checked and
    converted (ValueError naming a bad one), configs in `current` (the set ones) that `new`
    lacks go back to their defaults; nothing changes when one is bad, or when not `apply`."""
    target = topic_settings(new)
    defaults = default_topic_settings(set(topic_settings(current)) - set(target))
    if apply:
        topic.alter(**defaults, **target)


def max_timestamp(part, chunk=1000):
    """(offset, timestamp) of the partition's record with the largest timestamp (the first
    such record), or (-1, -1) when it has none: Kafka's OffsetSpec.max_timestamp()."""
    best_off, best_ts = -1, -1
    pos, end = part.start_offset, part.end_offset
    while pos < end:
        recs = part.read(pos, max_records=chunk)
        if not recs:
            break
        for r in recs:
            if r.timestamp_ms > best_ts:
                best_off, best_ts = r.offset, r.timestamp_ms
        pos = recs[-1].offset + 1
    return best_off, best_ts


def default_topic_settings(names):
    """{eventlog setting: default value} for the given eventlog setting names."""
    default = TopicConfig(partitions=1)
    return {n: getattr(default, n) for n in names}
