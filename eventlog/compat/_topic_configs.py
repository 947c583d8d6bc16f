"""Kafka topic configs <-> eventlog topic settings, for both facades' admin calls.

Rules kept: a Kafka config eventlog honours maps to one TopicConfig setting (and back, for
describe); a config that only tunes replication or broker I/O is accepted, not acted on, and
kept in the topic's `client_configs` so that describe gives it back as set; a value eventlog
honours in its own way (compression.type=gzip: eventlog compresses with zstd) is kept as the
client spelled it and described so while it still means the topic's setting; any other config
is refused with a ValueError naming it; a change is checked completely before the topic is
altered (nothing half-applied). Also: Kafka's max_timestamp offset lookup.
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
    "cleanup.policy": ("cleanup_policy", lambda v: ",".join(x.strip() for x in str(v).split(",") if x.strip())),
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


# where a described config's value comes from (Kafka's ConfigSource names)
SET = "DYNAMIC_TOPIC_CONFIG"
DEFAULT = "DEFAULT_CONFIG"
BROKER_DEFAULT = "DYNAMIC_DEFAULT_BROKER_CONFIG"
# configs a Kafka 4.1+ broker reports for every topic from its cluster-wide settings
# (KIP-966 writes min.insync.replicas at controller activation): eventlog is one replica
_BROKER_DEFAULTS = {"min.insync.replicas": "1"}


# Kafka 4's defaults of the configs eventlog keeps without acting on (those a broker lists in
# DescribeConfigs): described as defaults until a client sets them
_IGNORED_DEFAULTS = {
    "unclean.leader.election.enable": "false", "flush.messages": "9223372036854775807",
    "flush.ms": "9223372036854775807", "index.interval.bytes": "4096",
    "segment.index.bytes": "10485760", "segment.jitter.ms": "0", "preallocate": "false",
    "file.delete.delay.ms": "60000", "follower.replication.throttled.replicas": "",
    "leader.replication.throttled.replicas": "", "max.compaction.lag.ms": "9223372036854775807",
    "message.timestamp.before.max.ms": "9223372036854775807",
    "message.timestamp.after.max.ms": "3600000", "local.retention.ms": "-2",
    "local.retention.bytes": "-2", "remote.storage.enable": "false",
    "message.timestamp.type": "CreateTime",
}


def _render(name, value):
    """How describe shows an eventlog setting's value under Kafka's config name."""
    if name == "compression":
        value = {"none": "producer"}.get(value, value)
    return str(-1 if value is None else value)


def known_config_names():
    """Every topic config name the facades accept (honoured or kept)."""
    return set(_TOPIC_CONFIGS) | _TOPIC_CONFIGS_IGNORED | {"message.timestamp.type"}


def topic_settings(configs):
    """Kafka topic configs ({"retention.ms": "1000", ...}) -> eventlog create_topic settings,
    with `client_configs` for the configs eventlog keeps without acting on them and for
    values it honours in its own way (kept as given). Raises ValueError naming a config that
    cannot be honoured."""
    out = {}
    kept = {}
    for k, v in (configs or {}).items():
        if k in _TOPIC_CONFIGS:
            name, conv = _TOPIC_CONFIGS[k]
            try:
                out[name] = conv(v)
            except (TypeError, ValueError) as e:
                raise ValueError(f"topic config {k}={v!r}: {e}") from None
            if _render(name, out[name]) != str(v):
                kept[k] = str(v)
        elif k in _TOPIC_CONFIGS_IGNORED:
            kept[k] = str(v)
        elif k == "message.timestamp.type":
            if str(v) != "CreateTime":
                raise ValueError("message.timestamp.type=LogAppendTime is not supported: eventlog "
                                 "keeps the producer's timestamps (CreateTime)")
            kept[k] = str(v)
        else:
            raise ValueError(f"unknown topic config {k!r}")
    if kept:
        out["client_configs"] = kept
    return out


def describe_topic_configs(config):
    """[(Kafka config name, value as str, source)] of an eventlog TopicConfig, for the admin
    clients' describe_configs. `source` is SET for a config set on the topic (a value
    differing from the default, or one a client set), DEFAULT, or BROKER_DEFAULT."""
    default = TopicConfig(partitions=config.partitions)
    kept = config.client_configs
    out = []
    for kafka_name, (name, conv) in _TOPIC_CONFIGS.items():
        value = getattr(config, name)
        shown = _render(name, value)
        client = kept.get(kafka_name)
        if client is not None:
            try:
                if conv(client) == value:   # the client's spelling, while it still means the setting
                    shown = client
            except (TypeError, ValueError):
                pass
        set_ = value != getattr(default, name) or shown == client
        out.append((kafka_name, shown, SET if set_ else DEFAULT))
    for kafka_name, value in kept.items():
        if kafka_name not in _TOPIC_CONFIGS:
            out.append((kafka_name, value, SET))
    for kafka_name, value in _IGNORED_DEFAULTS.items():
        if kafka_name not in kept:
            out.append((kafka_name, value, DEFAULT))
    for kafka_name, value in _BROKER_DEFAULTS.items():
        if kafka_name not in kept:
            out.append((kafka_name, value, BROKER_DEFAULT))
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
    lacks go back to their defaults (kept client configs are replaced by those of `new`);
    nothing changes when one is bad, or when not `apply`."""
    target = topic_settings(new)
    target.setdefault("client_configs", {})
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
