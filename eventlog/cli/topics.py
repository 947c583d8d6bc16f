"""`eventlog topics`: list, create, describe, alter and delete topics.

Sizes, record counts and last-write times are read from the partition directories as they
are now (no lock, no scan beyond the newest segment's tail), so listing a busy log is cheap
and never blocks writers. "records" is end offset - start offset: exact for a delete-policy
topic, an upper bound for a compacted one (compaction leaves gaps in the offsets).
"""
import argparse
import os

from eventlog.cli import util as u
from eventlog.errors import TopicExistsError, UnknownTopicError

# Kafka's names of topic configs (for --config) -> our setting names
KAFKA_NAMES = {
    "retention.ms": "retention_ms", "retention.bytes": "retention_bytes",
    "segment.bytes": "segment_bytes", "segment.ms": "segment_ms",
    "cleanup.policy": "cleanup_policy", "compression.type": "compression",
    "compression.level": "compression_level", "max.message.bytes": "max_record_bytes",
    "delete.retention.ms": "delete_retention_ms", "min.compaction.lag.ms": "min_compaction_lag_ms",
    "min.cleanable.dirty.ratio": "min_cleanable_dirty_ratio", "fsync": "fsync",
}


def add_setting_options(p):
    g = p.add_argument_group("settings (Kafka's topic configs)")
    # default SUPPRESS: 'none' (None, no limit) must be told apart from "not given"
    g.add_argument("--retention", type=u.duration_or_none_arg, metavar="DURATION", default=argparse.SUPPRESS,
                   help="delete closed segments older than this (retention.ms; default 7d; 'none': keep forever)")
    g.add_argument("--retention-bytes", type=u.size_or_none_arg, metavar="SIZE", default=argparse.SUPPRESS,
                   help="keep at most this much per partition (retention.bytes; default none)")
    g.add_argument("--segment-bytes", type=u.size_arg, metavar="SIZE", help="roll segments at this size (default 64MiB)")
    g.add_argument("--segment-ms", type=u.duration_or_none_arg, metavar="DURATION", default=argparse.SUPPRESS,
                   help="roll segments older than this (default none)")
    pol = g.add_mutually_exclusive_group()
    pol.add_argument("--compact", action="store_const", const="compact", dest="cleanup_policy",
                     help="keep the newest record per key (cleanup.policy=compact)")
    pol.add_argument("--cleanup-policy", choices=("delete", "compact", "compact,delete"),
                     help="cleanup.policy (default delete)")
    g.add_argument("--compression", choices=("none", "zstd"), help="compression of new batches (default none)")
    g.add_argument("--compression-level", type=u.positive_int_arg, metavar="N", help="zstd level (default 3)")
    g.add_argument("--max-record-bytes", type=u.size_arg, metavar="SIZE",
                   help="largest record accepted (max.message.bytes; default 1MiB)")
    g.add_argument("--fsync", choices=("never", "batch"),
                   help="never: survive a process crash; batch: also a power cut (default never)")
    g.add_argument("--delete-retention", type=u.duration_arg, metavar="DURATION",
                   help="how long compacted tombstones are kept (delete.retention.ms; default 1d)")
    g.add_argument("--min-compaction-lag", type=u.duration_arg, metavar="DURATION",
                   help="leave records younger than this uncompacted (default 0s)")
    g.add_argument("--min-cleanable-dirty-ratio", type=float, metavar="RATIO",
                   help="compact once this share of the log is dirty (default 0.5)")
    g.add_argument("--config", "-c", action="append", default=[], metavar="NAME=VALUE",
                   help="any setting by Kafka's name (retention.ms=1h, cleanup.policy=compact, ...) "
                        "or ours (retention_ms=3600000); repeatable")


_OPTION_SETTINGS = (("retention", "retention_ms"), ("retention_bytes", "retention_bytes"),
                    ("segment_bytes", "segment_bytes"), ("segment_ms", "segment_ms"),
                    ("cleanup_policy", "cleanup_policy"), ("compression", "compression"),
                    ("compression_level", "compression_level"), ("max_record_bytes", "max_record_bytes"),
                    ("fsync", "fsync"), ("delete_retention", "delete_retention_ms"),
                    ("min_compaction_lag", "min_compaction_lag_ms"),
                    ("min_cleanable_dirty_ratio", "min_cleanable_dirty_ratio"))
_NONE_OK = {"retention_ms", "retention_bytes", "segment_ms"}


def settings_from_args(args):
    """The topic settings named on the command line, as TopicConfig keyword arguments."""
    out = {}
    for opt, name in _OPTION_SETTINGS:
        if name in _NONE_OK:
            if hasattr(args, opt):
                out[name] = getattr(args, opt)
        elif getattr(args, opt, None) is not None:
            out[name] = getattr(args, opt)
    for item in args.config:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise u.UsageError(f"--config takes NAME=VALUE, got {item!r}")
        key = KAFKA_NAMES.get(name, name.replace(".", "_").replace("-", "_"))
        out[key] = _config_value(key, name, value.strip())
    return out


def _config_value(key, name, value):
    try:
        if key.endswith("_ms"):
            if value.lstrip("-").isdigit():
                v = int(value)
                return None if v < 0 and key in _NONE_OK else v
            return u.parse_duration_ms(value, allow_none=key in _NONE_OK)
        if key.endswith("_bytes"):
            if value.lstrip("-").isdigit():
                v = int(value)
                return None if v < 0 and key in _NONE_OK else v
            return u.parse_size(value, allow_none=key in _NONE_OK)
    except argparse.ArgumentTypeError as e:
        raise u.UsageError(f"--config {name}: {e}") from None
    if key == "min_cleanable_dirty_ratio":
        try:
            return float(value)
        except ValueError:
            raise u.UsageError(f"--config {name}: expected a number in [0, 1], got {value!r}") from None
    if key in ("compression_level", "partitions"):
        try:
            return int(value)
        except ValueError:
            raise u.UsageError(f"--config {name}: expected a whole number, got {value!r}") from None
    if key == "compression" and value in ("uncompressed", "producer"):
        return "none"
    return value


# -- statistics ----------------------------------------------------------------------------

def partition_stats(p):
    """Offsets, segments, bytes and last write time of a partition, from its directory."""
    pdir = getattr(p, "dir", None)   # a Kafka back end's partition has no directory here
    try:
        names = os.listdir(pdir) if pdir else []
    except FileNotFoundError:
        names = []
    logs = [n for n in names if len(n) == 24 and n.endswith(".log") and n[:20].isdigit()]
    size = 0
    last = None
    for n in logs:
        try:
            st = os.stat(os.path.join(pdir, n))
        except FileNotFoundError:
            continue
        size += st.st_size
        if last is None or st.st_mtime_ns > last:
            last = st.st_mtime_ns
    start, end = p.start_offset, p.end_offset
    return {"partition": p.partition, "start_offset": start, "end_offset": end,
            "records": max(0, end - start), "segments": len(logs), "bytes": size,
            "last_write_ms": None if last is None else last // 1_000_000}


def topic_stats(t):
    parts = [partition_stats(p) for p in t.partitions]
    lw = [s["last_write_ms"] for s in parts if s["last_write_ms"] is not None]
    return {"records": sum(s["records"] for s in parts), "bytes": sum(s["bytes"] for s in parts),
            "segments": sum(s["segments"] for s in parts), "last_write_ms": max(lw) if lw else None,
            "partitions": parts}


def config_json(cfg):
    return {a.name: getattr(cfg, a.name) for a in cfg.__attrs_attrs__}


def _retention_text(cfg):
    parts = []
    if "delete" in cfg.cleanup_policy:
        parts.append(u.human_duration_ms(cfg.retention_ms) if cfg.retention_ms is not None else "forever")
        if cfg.retention_bytes is not None:
            parts.append(u.human_size(cfg.retention_bytes))
    return " / ".join(parts) if parts else "-"


# -- commands ------------------------------------------------------------------------------

def cmd_list(ctx, args):
    log = ctx.log()
    rows = []
    docs = []
    for name in log.topics():
        try:
            t = log.topic(name)
            st = topic_stats(t)
        except UnknownTopicError:  # deleted meanwhile
            continue
        cfg = t.config
        docs.append({"topic": name, "partitions": cfg.partitions, "records": st["records"],
                     "bytes": st["bytes"], "segments": st["segments"], "last_write_ms": st["last_write_ms"],
                     "cleanup_policy": cfg.cleanup_policy, "retention_ms": cfg.retention_ms,
                     "retention_bytes": cfg.retention_bytes, "compression": cfg.compression})
        rows.append([name, cfg.partitions, u.human_count(st["records"]), u.human_size(st["bytes"]),
                     cfg.cleanup_policy, _retention_text(cfg), cfg.compression, u.human_age(st["last_write_ms"])])
    if ctx.json:
        u.print_json(docs)
        return 0
    if not rows:
        ctx.note(f"no topics in {log.path} (create one with 'eventlog topics create NAME')")
        return 0
    u.print_table(rows, [("TOPIC", "<"), ("PARTITIONS", ">"), ("RECORDS", ">"), ("SIZE", ">"),
                         ("POLICY", "<"), ("RETENTION", "<"), ("COMPRESSION", "<"), ("LAST WRITE", "<")],
                  style=ctx.style)
    return 0


def _describe_config(cfg):
    return [
        ("partitions", str(cfg.partitions)),
        ("cleanup.policy", cfg.cleanup_policy),
        ("retention.ms", u.human_duration_ms(cfg.retention_ms) if cfg.retention_ms is not None else "none (forever)"),
        ("retention.bytes", u.human_size(cfg.retention_bytes) if cfg.retention_bytes is not None else "none"),
        ("segment.bytes", u.human_size(cfg.segment_bytes)),
        ("segment.ms", u.human_duration_ms(cfg.segment_ms) if cfg.segment_ms is not None else "none"),
        ("compression", cfg.compression + (f" (level {cfg.compression_level})" if cfg.compression == "zstd" else "")),
        ("max.message.bytes", u.human_size(cfg.max_record_bytes)),
        ("fsync", cfg.fsync),
        ("delete.retention.ms", u.human_duration_ms(cfg.delete_retention_ms)),
        ("min.compaction.lag.ms", u.human_duration_ms(cfg.min_compaction_lag_ms)),
        ("min.cleanable.dirty.ratio", str(cfg.min_cleanable_dirty_ratio)),
    ]


def cmd_describe(ctx, args):
    t = ctx.topic(args.topic)
    st = topic_stats(t)
    cfg = t.config
    if ctx.json:
        u.print_json({"topic": t.name, "config": config_json(cfg), "records": st["records"],
                      "bytes": st["bytes"], "segments": st["segments"], "last_write_ms": st["last_write_ms"],
                      "partitions": st["partitions"]})
        return 0
    s = ctx.style
    out = ctx.out
    out.write(f"{s.bold('Topic:')} {t.name}   {u.human_count(st['records'])} records, "
              f"{u.human_size(st['bytes'])} in {u.plural(st['segments'], 'segment')}\n")
    conf = _describe_config(cfg)
    w = max(len(k) for k, _ in conf)
    for k, v in conf:
        out.write(f"  {k.ljust(w)}  {v}\n")
    out.write("\n")
    rows = [[p["partition"], p["start_offset"], p["end_offset"], u.human_count(p["records"]), p["segments"],
             u.human_size(p["bytes"]),
             "-" if p["last_write_ms"] is None else f'{u.human_time(p["last_write_ms"])} ({u.human_age(p["last_write_ms"])})']
            for p in st["partitions"]]
    u.print_table(rows, [("PARTITION", ">"), ("START", ">"), ("END", ">"), ("RECORDS", ">"),
                         ("SEGMENTS", ">"), ("SIZE", ">"), ("LAST WRITE", "<")], style=s)
    return 0


#: partitions a topic may get from the CLI without --allow-many-partitions: each partition is a
#: directory (a 4 KiB block and an inode on most file systems), all made when the topic is made
MANY_PARTITIONS = 10_000


def check_partition_count(ctx, n, args, have=0):
    """Refuse more than MANY_PARTITIONS partitions unless --allow-many-partitions, saying what
    it would cost: the directories are written at once, when the topic is created or grown."""
    if n <= MANY_PARTITIONS or getattr(args, "allow_many_partitions", False):
        return
    try:
        block = os.statvfs(ctx.require_dir() if os.path.isdir(ctx.require_dir()) else
                           os.path.dirname(ctx.require_dir()) or ".").f_bsize
    except OSError:
        block = 4096
    raise u.UsageError(
        f"--partitions {n}: each partition is a directory, made when the topic is "
        f"{'grown' if have else 'created'}, so this writes {n - have:,} directories "
        f"(about {u.human_size((n - have) * block)} on this file system) at once; eventlog is "
        f"meant for up to a few thousand partitions per topic (more partitions do not make one "
        f"machine faster). Add --allow-many-partitions to do it anyway")


def cmd_create(ctx, args):
    settings = settings_from_args(args)
    settings.pop("partitions", None)
    check_partition_count(ctx, args.partitions, args)
    log = ctx.log(create=True)
    try:
        t = log.create_topic(args.topic, partitions=args.partitions, **settings)
    except TopicExistsError:
        if args.if_not_exists:
            return 0
        raise u.CliError(f"topic {args.topic!r} already exists in {log.path} "
                         "(--if-not-exists to accept that; 'topics alter' to change it)") from None
    cfg = t.config
    ctx.out.write(f"created topic {t.name}: {u.plural(cfg.partitions, 'partition')}, "
                  f"cleanup {cfg.cleanup_policy}, retention {_retention_text(cfg)}, "
                  f"compression {cfg.compression}\n")
    return 0


def cmd_alter(ctx, args):
    settings = settings_from_args(args)
    if args.partitions is not None:
        settings["partitions"] = args.partitions
    if not settings:
        raise u.UsageError("nothing to alter: give at least one setting, e.g. --retention 1h or "
                           "--partitions 8 (see 'eventlog topics alter --help')")
    t = ctx.topic(args.topic)
    if args.partitions is not None:
        check_partition_count(ctx, args.partitions, args, have=t.config.partitions)
    before = dict(_describe_config(t.config))
    old = t.config
    new = t.alter(**settings)
    after = dict(_describe_config(new))
    changed = [(k, before[k], after[k]) for k in after if before[k] != after[k]]
    if not changed and old != new:
        changed = [("settings", "", "updated")]
    if not changed:
        ctx.out.write(f"topic {t.name}: nothing changed\n")
    for k, a, b in changed:
        ctx.out.write(f"topic {t.name}: {k} {a} -> {b}\n")
    return 0


def cmd_delete(ctx, args):
    log = ctx.log()
    try:
        t = log.topic(args.topic)
    except UnknownTopicError:
        if args.if_exists:
            return 0
        ctx.topic(args.topic)  # raises the CLI's message
        raise
    st = topic_stats(t)
    what = (f"topic {t.name!r} ({u.plural(t.config.partitions, 'partition')}, "
            f"{u.plural(st['records'], 'record')}, {u.human_size(st['bytes'])})")
    if not args.yes:
        raise u.CliError(f"this would delete {what} and all its records; add --yes to do it")
    with u.Progress(f"deleting {t.name}", total=t.config.partitions, unit="") as prog:
        log.delete_topic(t.name, progress=lambda done, total: prog.set(done))
    ctx.out.write(f"deleted {what}\n")
    return 0
