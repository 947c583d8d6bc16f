"""`eventlog groups`: list, describe, reset the offsets of and delete consumer groups.

Uses the group layer's admin API (`log.groups()`, `log.group(id)` -> ConsumerGroup with
`members()`, `assignment()`, `committed()`, `reset_offsets(...)`); when this eventlog has no
group layer the commands say so (exit 1). Lag is computed here as end offset - committed
offset per partition, from the log as it is now. Open transactions touching a group (holding
offsets of the group, or written to a partition it consumes) come from the transaction
coordinator's `open_transactions()`, the one listing `eventlog transactions` and `verify` use.

reset-offsets is a dry run unless `--execute`; with `--execute` it is refused while the
group has live members (named in the error), as Kafka's tool refuses for an active group.
Given `--topic`, it also creates the offsets of a group that has none yet (as Kafka's tool
does). `delete` and `delete-offsets` act at once (as Kafka's `--delete` and
`--delete-offsets`) and are refused while the group has live members.
"""
import time

from eventlog.cli import util as u
from eventlog.errors import EventLogError, UnknownTopicError
from eventlog.record import TopicPartition


def _api(ctx):
    log = ctx.log()
    if not (hasattr(log, "groups") and hasattr(log, "group")):
        raise u.CliError("consumer groups are not available in this version of eventlog "
                         "(it has no log.groups()/log.group())")
    return log


def _group(ctx, log, gid):
    if gid not in set(log.groups()):
        have = log.groups()
        known = f" (groups: {', '.join(have[:10])}{', ...' if len(have) > 10 else ''})" if have else " (there are no groups)"
        raise u.CliError(f"unknown consumer group {gid!r} in {log.path}{known}")
    return log.group(gid)


# -- normalising what the group layer returns --------------------------------------------------

def _tp(x):
    """A TopicPartition from a TopicPartition, a (topic, p) pair, {"topic","partition"} or 't[p]'."""
    if isinstance(x, TopicPartition):
        return x
    if isinstance(x, (tuple, list)) and len(x) == 2:
        return TopicPartition(str(x[0]), int(x[1]))
    if isinstance(x, dict) and "topic" in x and "partition" in x:
        return TopicPartition(x["topic"], int(x["partition"]))
    if isinstance(x, str) and x.endswith("]") and "[" in x:
        t, _, p = x[:-1].rpartition("[")
        return TopicPartition(t, int(p))
    raise ValueError(f"not a topic partition: {x!r}")


def _tps(x):
    if x is None:
        return []
    if isinstance(x, dict):  # {topic: [partitions]}
        if all(isinstance(k, str) and isinstance(v, (list, tuple, set)) for k, v in x.items()):
            return sorted(TopicPartition(k, int(p)) for k, ps in x.items() for p in ps)
        return sorted(_tp(k) for k in x)
    out = []
    for item in x:
        try:
            out.append(_tp(item))
        except (ValueError, TypeError):
            pass
    return sorted(out)


def _get(d, *names):
    for n in names:
        if isinstance(d, dict):
            if d.get(n) is not None:
                return d[n]
        elif getattr(d, n, None) is not None:
            return getattr(d, n)
    return None


def _ms(v):
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return int(v * 1000) if v < 1e11 else int(v)  # seconds (time.time()) or ms


def _pid(v):
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def members_of(g):
    """[{member_id, client_id, pid, host, partitions: [TopicPartition], last_poll_ms}]."""
    ms = g.members()
    items = list(ms.items()) if isinstance(ms, dict) else [(None, m) for m in (ms or ())]
    out = []
    for key, m in items:
        if isinstance(m, (str, int)):
            mid, m = m, {}
        else:
            mid = key if key is not None else _get(m, "member_id", "id", "member", "name")
        out.append({
            "member_id": str(mid),
            "client_id": _get(m, "client_id", "client"),
            "group_instance_id": _get(m, "group_instance_id", "instance_id"),
            "pid": _pid(_get(m, "pid")),
            "host": _get(m, "host", "hostname"),
            "partitions": _tps(_get(m, "partitions", "assigned", "assignment", "owned")),
            "last_poll_ms": _ms(_get(m, "last_poll_ms", "last_poll", "last_poll_time", "last_seen")),
        })
    return out


def owners_of(g, members):
    """{TopicPartition: member id}: who holds each partition now (the group's live owners),
    else which live member it is assigned to. A dead member's stale assignment is not shown."""
    owners = {}
    for m in members:
        for tp in m["partitions"]:
            owners[tp] = m["member_id"]
    live_owners = None
    if hasattr(g, "owners"):
        try:
            live_owners = g.owners()
        except EventLogError:
            live_owners = None
    if isinstance(live_owners, dict):
        for k, v in live_owners.items():
            try:
                owners[_tp(k)] = str(v)
            except (ValueError, TypeError):
                pass
    return owners


def committed_of(g):
    c = g.committed() or {}
    out = {}
    for k, v in c.items():
        try:
            tp = _tp(k)
        except (ValueError, TypeError):
            continue
        off = getattr(v, "offset", v)
        if isinstance(v, dict):
            off = v.get("offset")
        out[tp] = off
    return out


def _ends(log, tps):
    ends = {}
    parts = {}
    for tp in tps:
        try:
            p = log.topic(tp.topic).partition(tp.partition)
            parts[tp] = p
            ends[tp] = (p.start_offset, p.end_offset)
        except (UnknownTopicError, EventLogError):
            ends[tp] = (None, None)
    return ends, parts


def _describe(log, gid):
    g = log.group(gid)
    members = members_of(g)
    owners = owners_of(g, members)
    committed = committed_of(g)
    tps = sorted(set(committed) | set(owners))
    ends, _ = _ends(log, tps)
    rows = []
    for tp in tps:
        start, end = ends[tp]
        c = committed.get(tp)
        lag = (end - c) if (end is not None and c is not None) else (end - start if end is not None and c is None else None)
        rows.append({"topic": tp.topic, "partition": tp.partition, "committed": c, "start_offset": start,
                     "end_offset": end, "lag": lag, "member": owners.get(tp)})
    gen = getattr(g, "generation", None)
    if callable(gen):
        gen = gen()
    state = "Stable" if members else "Empty"
    return {"group": gid, "state": state, "generation": gen if isinstance(gen, int) else None,
            "members": members, "partitions": rows,
            "lag": sum(r["lag"] for r in rows if r["lag"] is not None),
            "open_transactions": open_transactions_of(log, gid, tps)}


def open_transactions_of(log, gid, tps):
    """The open transactions (the coordinator's `open_transactions()`) touching group `gid`:
    those holding offsets of the group, committed only if they commit ("pending_offsets"),
    and those that wrote to a partition the group consumes, `tps`, which hold the group's
    read_committed consumers at their first offset ("partitions")."""
    coord = getattr(log, "transaction_coordinator", None)
    if coord is None:
        return []
    mine = set(tps)
    out = []
    for st in coord().open_transactions():
        offs = st.get("offsets") or {}
        pending = [{"topic": t, "partition": p, "offset": o} for t, p, o in offs.get("offsets", ())
                   ] if offs.get("group") == gid else []
        held = [{"topic": t, "partition": p} for t, p in st["partitions"] if TopicPartition(t, p) in mine]
        if pending or held:
            out.append({"transactional_id": st["transactional_id"], "state": st["state"],
                        "producer_id": st["producer_id"], "producer_epoch": st["producer_epoch"],
                        "pending_offsets": pending, "partitions": held})
    return out


def _tp_list(items, with_offset=False):
    return ",".join(f"{x['topic']}[{x['partition']}]" + (f"={x['offset']}" if with_offset else "")
                    for x in items) or "-"


def _member_json(m):
    d = dict(m)
    d["partitions"] = [{"topic": tp.topic, "partition": tp.partition} for tp in m["partitions"]]
    return d


# -- commands ----------------------------------------------------------------------------------

def cmd_list(ctx, args):
    log = _api(ctx)
    docs = []
    for gid in log.groups():
        d = _describe(log, gid)
        docs.append({"group": gid, "state": d["state"], "members": len(d["members"]),
                     "topics": sorted({r["topic"] for r in d["partitions"]}),
                     "partitions": len(d["partitions"]), "lag": d["lag"],
                     "open_transactions": [t["transactional_id"] for t in d["open_transactions"]]})
    if ctx.json:
        u.print_json(docs)
        return 0
    if not docs:
        ctx.note(f"no consumer groups in {log.path}")
        return 0
    u.print_table([[d["group"], d["state"], d["members"], ",".join(d["topics"]) or "-", d["partitions"],
                    u.human_count(d["lag"]), ",".join(d["open_transactions"]) or "-"] for d in docs],
                  [("GROUP", "<"), ("STATE", "<"), ("MEMBERS", ">"), ("TOPICS", "<"), ("PARTITIONS", ">"),
                   ("LAG", ">"), ("OPEN TRANSACTIONS", "<")], style=ctx.style)
    return 0


def cmd_describe(ctx, args):
    log = _api(ctx)
    _group(ctx, log, args.group)
    d = _describe(log, args.group)
    if ctx.json:
        doc = dict(d)
        doc["members"] = [_member_json(m) for m in d["members"]]
        u.print_json(doc)
        return 0
    s = ctx.style
    out = ctx.out
    gen = f", generation {d['generation']}" if d["generation"] is not None else ""
    out.write(f"{s.bold('Group:')} {d['group']}   {d['state']}, {u.plural(len(d['members']), 'member')}{gen}, "
              f"total lag {u.human_count(d['lag'])}\n\n")
    if d["members"]:
        u.print_table([[m["member_id"], m["client_id"] or "-", m["pid"] or "-",
                        ", ".join(f"{tp.topic}[{tp.partition}]" for tp in m["partitions"]) or "-",
                        u.human_age(m["last_poll_ms"])] for m in d["members"]],
                      [("MEMBER", "<"), ("CLIENT", "<"), ("PID", ">"), ("PARTITIONS", "<"), ("LAST POLL", "<")],
                      style=s)
        out.write("\n")
    if d["partitions"]:
        u.print_table([[r["topic"], r["partition"], "-" if r["committed"] is None else r["committed"],
                        "-" if r["end_offset"] is None else r["end_offset"],
                        "-" if r["lag"] is None else u.human_count(r["lag"]), r["member"] or "-"]
                       for r in d["partitions"]],
                      [("TOPIC", "<"), ("PARTITION", ">"), ("COMMITTED", ">"), ("END", ">"), ("LAG", ">"),
                       ("MEMBER", "<")], style=s)
    else:
        out.write("no committed offsets and no assigned partitions\n")
    if d["open_transactions"]:
        out.write(f"\n{u.plural(len(d['open_transactions']), 'open transaction')} touching this group "
                  "(pending offsets commit only if the transaction does; a transaction on a partition "
                  "holds the group's read_committed consumers at its first offset; "
                  "`eventlog transactions abort ID` ends a stuck one):\n")
        u.print_table([[t["transactional_id"], t["state"], f"{t['producer_id']}/{t['producer_epoch']}",
                        _tp_list(t["pending_offsets"], True), _tp_list(t["partitions"])]
                       for t in d["open_transactions"]],
                      [("TRANSACTIONAL ID", "<"), ("STATE", "<"), ("PRODUCER", ">"), ("PENDING OFFSETS", "<"),
                       ("ON PARTITIONS", "<")], style=s)
    return 0


def _topic_filter(log, specs):
    """[TopicPartition] of --topic T or T:0,1 options."""
    out = []
    for spec in specs:
        name, _, parts = spec.partition(":")
        try:
            t = log.topic(name)
        except UnknownTopicError:
            raise u.CliError(f"unknown topic {name!r} in {log.path}") from None
        if parts:
            try:
                nums = [int(x) for x in parts.split(",") if x.strip()]
            except ValueError:
                raise u.UsageError(f"bad --topic {spec!r}: use TOPIC or TOPIC:0,1,2") from None
            for n in nums:
                if not 0 <= n < t.config.partitions:
                    raise u.CliError(f"topic {name!r} has no partition {n}")
        else:
            nums = range(t.config.partitions)
        out.extend(TopicPartition(name, n) for n in nums)
    return sorted(set(out))


def cmd_reset(ctx, args):
    log = _api(ctx)
    if args.topic:          # a group without offsets yet gets them (as Kafka's tool does)
        g = log.group(args.group)
    else:
        g = _group(ctx, log, args.group)
    committed = committed_of(g)
    if args.topic:
        tps = _topic_filter(log, args.topic)
    else:
        tps = sorted(committed)
        if not tps:
            raise u.CliError(f"group {args.group!r} has no committed offsets: name the topics with --topic")
    ends, parts = _ends(log, tps)
    plan = []
    for tp in tps:
        start, end = ends[tp]
        if start is None:
            raise u.CliError(f"topic {tp.topic!r} no longer exists; leave it out with --topic")
        cur = committed.get(tp)
        if args.to_earliest:
            new = start
        elif args.to_latest:
            new = end
        elif args.to_offset is not None:
            new = args.to_offset
        elif args.shift_by is not None:
            base = cur if cur is not None else start
            new = base + args.shift_by
        else:
            if args.to_datetime is not None:
                when = args.to_datetime
            else:
                when = int(time.time() * 1000) - args.by_duration
            off = parts[tp].offset_for_time(when)
            new = end if off is None else off
        clamped = min(max(new, start), end)
        plan.append({"topic": tp.topic, "partition": tp.partition, "current": cur, "new": clamped,
                     "start_offset": start, "end_offset": end, "clamped": clamped != new})
    if args.execute:
        members = members_of(g)
        if members:
            names = ", ".join(m["member_id"] + (f" (pid {m['pid']})" if m["pid"] else "") for m in members)
            raise u.CliError(f"group {args.group!r} has {u.plural(len(members), 'live member')}: {names}; "
                             "stop them before resetting its offsets")
        new = {TopicPartition(p["topic"], p["partition"]): p["new"] for p in plan}
        if hasattr(g, "reset_offsets"):
            g.reset_offsets(new)
        else:  # pragma: no cover - a group layer without reset_offsets
            raise u.CliError("this version of eventlog cannot reset group offsets")
    if ctx.json:
        u.print_json({"group": args.group, "executed": bool(args.execute), "offsets": plan})
        return 0
    u.print_table([[p["topic"], p["partition"], "-" if p["current"] is None else p["current"],
                    str(p["new"]) + (" (clamped)" if p["clamped"] else ""), p["end_offset"] - p["new"]]
                   for p in plan],
                  [("TOPIC", "<"), ("PARTITION", ">"), ("CURRENT", ">"), ("NEW", ">"), ("LAG AFTER", ">")],
                  style=ctx.style)
    if args.execute:
        ctx.note(f"reset {u.plural(len(plan), 'partition')} of group {args.group!r}")
    else:
        ctx.note("dry run: nothing changed; add --execute to apply")
    return 0


def _refuse_live(args_group, g, what):
    members = members_of(g)
    if members:
        names = ", ".join(m["member_id"] + (f" (pid {m['pid']})" if m["pid"] else "") for m in members)
        raise u.CliError(f"group {args_group!r} has {u.plural(len(members), 'live member')}: {names}; "
                         f"stop them before {what}")


def cmd_delete(ctx, args):
    log = _api(ctx)
    groups = [_group(ctx, log, gid) for gid in dict.fromkeys(args.group)]   # all known first
    for g in groups:
        _refuse_live(g.group_id, g, "deleting the group")
    for g in groups:
        g.delete()
    if ctx.json:
        u.print_json({"deleted": [g.group_id for g in groups]})
    else:
        ctx.note(f"deleted {u.plural(len(groups), 'group')}: {', '.join(g.group_id for g in groups)}")
    return 0


def cmd_delete_offsets(ctx, args):
    log = _api(ctx)
    g = _group(ctx, log, args.group)
    topics = list(dict.fromkeys(args.topic))
    for name in topics:
        if ":" in name:
            raise u.UsageError(f"bad --topic {name!r}: delete-offsets takes whole topics (TOPIC)")
    _refuse_live(args.group, g, "deleting its offsets")
    gone = g.delete_offsets(topics)
    if ctx.json:
        u.print_json({"group": args.group, "deleted": [
            {"topic": tp.topic, "partition": tp.partition, "offset": off} for tp, off in gone.items()]})
        return 0
    if gone:
        u.print_table([[tp.topic, tp.partition, off] for tp, off in gone.items()],
                      [("TOPIC", "<"), ("PARTITION", ">"), ("DELETED OFFSET", ">")], style=ctx.style)
    ctx.note(f"deleted {u.plural(len(gone), 'committed offset')} of group {args.group!r} "
             f"for {', '.join(topics)}")
    return 0
