"""Transactional crash trials (kinds ``txkill`` and ``txpower`` of `stress.crash_trials`): the
commit protocol (docs/transactions.md) killed -9, or cut by a simulated power failure, at each
of its steps, then recovered and judged all-or-nothing.

Setup (before the writers start, so it is the durable baseline of a power cut): topic "in"
(2 partitions, 100 records each, the "input" whose offsets the transactions commit), topic
"out" (3 partitions) and "side" (1 partition), small segments so rolls happen inside
transactions; ``fsync="batch"`` topics for ``txpower`` (one trial in four ``"never"``, the
default: a transaction's batches and markers are fsynced whatever the topic says), ``"never"``
for ``txkill``. The log
is opened by the writers with ``fsync=None`` or ``"batch"`` (drawn per trial: the first
leaves the offset store unsynced, so a transaction's offsets must be made durable by the
coordinator itself).

Writers: 1 or 2 forked processes (the fork server of `stress.crash_trials`), writer ``w``
with transactional id ``tx-w``. Transaction ``k`` of writer ``w`` sends 1-40 self-checking
records (`crash_trials.payload`: writer ``w``, sequence number, *first* = ``k``, *n* = the
transaction's record count) to a random subset of out/side partitions, sometimes flushes
midway, sends offsets ``{in[w]: k + 1}`` of group "g" (sometimes twice), and commits, or in
one of six aborts. Each writer records in its ack file, unsynced and outside the log: ``B k
c`` (about to end k, c = 1 commit / 0 abort) and ``C k`` / ``A k`` once commit/abort
returned (*acknowledged*). Variant ``step``: the writer draws one transaction and one step of
its protocol that it will take (``recorded``, ``written``, ``offsets-sent``, ``deciding``,
``decided``, ``marker-<i>``, ``offsets``, ``completed``: the coordinator's fault points, or
``acked``: after the acknowledgement) and kills itself with SIGKILL there (its target is
written first as ``K k step``); for ``txpower`` the other writer is killed at once (or, one
trial in two, ``staggered``: at its own step). Variant ``random``: the trial kills each
writer after a random number of acknowledged transactions plus a random jitter. ``txpower``
then drops everything not fsynced (`crash_trials.power_cut`, which also removes directories
whose entry was never synced).

Judgement, on a fresh open:
  1. ``log.verify()`` of the crashed state reports no error;
  2. recovery, drawn per trial: ``init`` (a new producer with each writer's transactional id
     calls ``init_transactions()``) or ``timeout`` (a read_committed consumer whose
     coordinator's clock reads 2**50 ms, past every timeout, rolls forward or aborts what
     holds its partitions back; then the coordinator's timeout abort, with that clock, of
     anything still open);
  3. no open transaction is left; read_committed reaches every partition's end (no stuck
     last stable offset); ``verify()`` reports no error;
  4. per writer, every transaction is visible to read_committed whole or not at all
     (``mixed``), no record twice or invented (``corrupt``), an acknowledged commit is
     visible (``lost``), an acknowledged abort is not and neither is any transaction after
     the killed one (``visible``); a transaction killed at ``decided`` or later of a commit
     is committed, before ``deciding`` aborted (``outcome``);
  5. the committed offset of group g for in[w] is 1 + the last committed transaction of
     writer w, or none (``offsets``);
  6. a new transaction of each id commits and is read back (``liveness``).
"""
import collections
import os
import random
import signal
import time

import eventlog
from eventlog.record import TopicPartition as TP

from stress import crash_trials as ct

KINDS = ("txkill", "txpower")
OUT = [("out", 0), ("out", 1), ("out", 2), ("side", 0)]
N_INPUT = 100
GROUP = "g"
FUTURE = 2 ** 50  # ms (year ~37,000): a clock past every transaction's timeout


def setup(path, rng, power, topic_fsync=None):
    with eventlog.open(path) as lg:
        seg = rng.choice((4 << 10, 16 << 10, 64 << 10))
        fs = topic_fsync or ("batch" if power else "never")
        t = lg.create_topic("in", partitions=2, fsync=fs)
        for i in range(2):
            t.partition(i).append_batch([(None, b"in-%d-%d" % (i, k)) for k in range(N_INPUT)])
        lg.create_topic("out", partitions=3, segment_bytes=seg, fsync=fs)
        lg.create_topic("side", partitions=1, segment_bytes=seg, fsync=fs)


def _plan(rng, k):
    """What transaction k does: (records [(topic, partition)], flush_at, offsets twice?, commit?)."""
    parts = rng.sample(OUT, rng.randint(1, len(OUT)))
    n = rng.randint(len(parts), 40)
    dest = [parts[i % len(parts)] for i in range(n)]
    rng.shuffle(dest)
    flush_at = rng.randrange(n) if rng.random() < 0.3 else None
    return dest, flush_at, rng.random() < 0.2, rng.random() >= 1 / 6


def _steps(dest, flush_at, commit):
    """The fault points transaction (dest, flush_at, commit) passes, in order, roughly (a
    small batch_size writes more often; the writer dies at "acked" if its step was not
    taken, and records where it died)."""
    s = ["recorded", "written"] if flush_at is not None else []
    s += ["offsets-sent"]
    s += ["recorded", "written"] if commit else []
    s += ["deciding", "decided"]
    written = dest if commit else (dest[:flush_at + 1] if flush_at is not None else [])
    s += [f"marker-{i}" for i in range(1, len(set(written)) + 1)]
    s += ["offsets"] if commit else []
    return s + ["completed", "acked"]


def writer_main(spec):
    """Body of one forked transactional writer (see the module docstring)."""
    from eventlog.clients.transactional import TransactionalProducer
    rng = random.Random(spec["seed"])
    if spec.get("sync_log"):
        ct._install_sync_recorder(spec["sync_log"])
    ack = os.open(spec["ack"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    w, tag = spec["writer"], spec["tag"]
    target = [None]  # (k, step, occurrence) to die at
    now = [None, collections.Counter()]  # current k, fault steps seen in it

    def die(step):
        os.write(ack, b"K %d %s\n" % (now[0], step.encode()))
        os.kill(os.getpid(), signal.SIGKILL)

    def fault(step):
        now[1][step] += 1
        t = target[0]
        if t is not None and t[0] == now[0] and t[1] == step and now[1][step] == t[2]:
            die(step)

    lg = eventlog.open(spec["path"], fsync=spec["log_fsync"])
    coord = lg.transaction_coordinator(fault=fault)
    p = TransactionalProducer(lg, coord, transactional_id=f"tx-{w}", batch_size=rng.choice((300, 4000, 1 << 20)))
    p.init_transactions()
    seq = 0
    die_k = spec["die_k"]
    for k in range(N_INPUT - 1):
        dest, flush_at, twice, commit = _plan(rng, k)
        now[0], now[1] = k, collections.Counter()
        if k == die_k:
            steps = _steps(dest, flush_at, commit)
            i = rng.randrange(len(steps))
            target[0] = (k, steps[i], steps[:i + 1].count(steps[i]))
        p.begin_transaction()
        for i, (t, part) in enumerate(dest):
            p.send(t, value=ct.payload(tag, w, seq, k, len(dest), rng.randbytes(rng.choice((0, 30, 300)))),
                   partition=part)
            seq += 1
            if i == flush_at:
                p.flush()
        if twice:
            p.send_offsets_to_transaction({TP("in", w): k}, GROUP)
        p.send_offsets_to_transaction({TP("in", w): k + 1}, GROUP)
        os.write(ack, b"B %d %d\n" % (k, commit))
        if commit:
            p.commit_transaction()
        else:
            p.abort_transaction()
        os.write(ack, b"%s %d\n" % (b"C" if commit else b"A", k))
        if k == die_k:  # its step was "acked", or a step this transaction did not take
            die("acked")
    while True:  # all transactions done: wait to be killed
        time.sleep(1)


def _acks(path):
    out = {"K": None, "B": {}, "C": set(), "A": set()}
    try:
        lines = open(path, "rb").read().split(b"\n")[:-1]
    except FileNotFoundError:
        return out
    for ln in lines:
        f = ln.decode().split()
        if f[0] == "K":
            out["K"] = (int(f[1]), f[2])
        elif f[0] == "B":
            out["B"][int(f[1])] = f[2] == "1"
        else:
            out[f[0]].add(int(f[1]))
    return out


def _dead(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def trial(kind, seed, workdir, server, topic_fsync=None):
    """One trial (see the module docstring); `topic_fsync` forces the topics' setting."""
    rng = random.Random(f"{kind}:{seed}")
    tag = rng.getrandbits(32)
    power = kind == "txpower"
    path = os.path.join(workdir, f"{kind}-{seed}")
    # one txpower trial in four on fsync="never" topics (the default): transactional batches
    # and markers are fsynced whatever the topic says; drawn from its own stream so that the
    # seed's other choices stay as they were
    if topic_fsync is None and power and random.Random(f"topic-fsync:{seed}").random() < 0.25:
        topic_fsync = "never"
    setup(path, rng, power, topic_fsync)
    nw = rng.choice((1, 1, 2))
    mode = "step" if power or rng.random() < 0.7 else "random"
    staggered = power and nw > 1 and rng.random() < 0.5
    log_fsync = rng.choice((None, "batch"))
    recover = rng.choice(("init", "init", "timeout"))
    acks = [os.path.join(workdir, f"{kind}-{seed}.ack{w}") for w in range(nw)]
    syncs = [os.path.join(workdir, f"{kind}-{seed}.sync{w}") for w in range(nw)] if power else []
    baseline = ct._snapshot(path) if power else None
    specs = [{"mode": "txn", "path": path, "writer": w, "seed": rng.getrandbits(32), "tag": tag, "ack": acks[w],
              "sync_log": syncs[w] if syncs else None, "log_fsync": log_fsync,
              "die_k": rng.choice((0, 0, 1, 2, 3, 5, 8)) if mode == "step" else None} for w in range(nw)]
    kill_after = [rng.choice((0, 1, 2, 3, 5, 8)) for _ in range(nw)]
    jitter = [rng.random() * 0.01 for _ in range(nw)]
    notes = []
    pids = server.call(op="start", writers=specs)["pids"]
    try:
        deadline = time.monotonic() + 60
        alive = set(range(nw))
        while alive and time.monotonic() < deadline:
            for w in sorted(alive):
                if _dead(pids[w]):
                    alive.discard(w)
                    if power and not staggered:  # the power fails: everyone dies now
                        for w2 in alive:
                            os.kill(pids[w2], signal.SIGKILL)
                        alive.clear()
                elif mode == "random":
                    a = _acks(acks[w])
                    if len(a["C"]) + len(a["A"]) >= kill_after[w]:
                        t_end = time.perf_counter() + jitter[w]
                        while time.perf_counter() < t_end:
                            pass
                        os.kill(pids[w], signal.SIGKILL)
                        alive.discard(w)
            time.sleep(0.0005)
        if alive:
            notes.append(f"writers {sorted(alive)} did not die at their step in 60 s")
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        server.call(op="reap", pids=pids)
    variant = (f"{mode}:writers{nw}:log-fsync-{log_fsync}:recover-{recover}" + (":staggered" if staggered else "")
               + (":topics-fsync-never" if topic_fsync else ""))
    for w in range(nw):
        a = _acks(acks[w])
        if a["K"] is not None:
            variant += f":w{w}-k{a['K'][0]}-{a['K'][1]}"
    if power:
        variant += ":" + ct.power_cut(path, baseline, syncs, rng)
    res = ct.Result(kind, seed, variant)
    res.tag = tag
    res.notes += notes
    # acknowledged transactions checked; transactions being committed at the kill that
    # ended committed / aborted (the Tally's tx_* columns)
    res.tx_acked = res.tx_inflight_commit = res.tx_inflight_abort = 0
    check(path, res, [_acks(a) for a in acks], recover)
    return res, path


def _expected_commit(step):
    """For a transaction killed at `step` that was to commit: True (must be committed), False
    (must be aborted) or None (either: killed before its end was asked for)."""
    if step in ("deciding",):
        return False
    if step == "decided" or step.startswith("marker-") or step in ("offsets", "completed", "acked"):
        return True
    return False  # recorded / written / offsets-sent: no decision yet


def check(path, res, acks, recover):
    try:
        _check(path, res, acks, recover)
    except Exception as e:  # noqa: BLE001 - every exception is a failure, tallied by type
        res.exceptions[f"{type(e).__name__}"] += 1
        res.notes.append(f"{type(e).__name__}: {e}")
    if res.exceptions and "exception" not in res.fail:
        res.fail.append("exception")


def _errors(lg):
    return [str(p) for p in lg.verify().errors]


def _check(path, res, acks, recover):
    nw = len(acks)
    with eventlog.open(path) as lg:
        errs = _errors(lg)
        res.checker_before = [("error", e) for e in errs]
        if errs:
            res.fail.append("checker")
            res.notes.append("verify before recovery: " + "; ".join(errs)[:300])
        if recover == "init":
            for w in range(nw):
                with lg.producer(transactional_id=f"tx-{w}") as p:
                    p.init_transactions()
            reader_coord = None
        else:
            reader_coord = lg.transaction_coordinator(clock=lambda: FUTURE)
        tps = [TP(t, p) for t, p in OUT]
        c = lg.consumer(isolation_level="read_committed", auto_offset_reset="earliest",
                        **({"transaction_coordinator": reader_coord} if reader_coord else {}))
        c.assign(tps)
        got = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got += c.poll(0.05)
            ends = {tp: lg.topic(tp.topic).partition(tp.partition).end_offset for tp in tps}
            if all(c.position(tp) >= ends[tp] for tp in tps):
                got += c.poll(0)
                break
        stuck = [f"{tp.topic}[{tp.partition}] at {c.position(tp)} of {ends[tp]}" for tp in tps
                 if c.position(tp) < ends[tp]]
        c.close()
        coord = lg.transaction_coordinator(clock=lambda: FUTURE)
        if recover == "timeout":
            # what no reader was held back by (a transaction that wrote nothing yet): the
            # coordinator's own timeout abort, with the same clock
            for st in coord.open_transactions():
                coord.abort(st["transactional_id"], force=False)
        still = [s["transactional_id"] + " " + s["state"] for s in coord.open_transactions()]
        if still:
            res.fail.append("open")
            res.notes.append(f"open after recovery: {still}")
        if stuck:
            res.fail.append("stuck")
            res.notes.append(f"read_committed stopped before the end: {stuck}")
        # what read_committed returned, per writer and transaction
        seen = collections.defaultdict(lambda: collections.defaultdict(set))  # w -> k -> seqs
        ns = {}
        for r in got:
            ident = ct.parse_payload(r.value)
            if ident is None or ident[0] != res.tag:
                res.corrupt += 1
                res.notes.append(f"{r.topic}[{r.partition}]@{r.offset}: not a record of this trial")
                continue
            _tag, w, s, k, n = ident
            if s in seen[w][k]:
                res.corrupt += 1
                res.notes.append(f"writer {w} txn {k} seq {s} returned twice")
            seen[w][k].add(s)
            ns[(w, k)] = n
        group = lg.consumer(group_id=GROUP, enable_auto_commit=False)
        try:
            committed = {w: group.committed(TP("in", w)) for w in range(nw)}
        finally:
            group.close()
        for w, a in enumerate(acks):
            vis = seen.get(w, {})
            for k, s in vis.items():
                if len(s) != ns[(w, k)]:
                    res.fail.append("mixed")
                    res.notes.append(f"writer {w} txn {k}: {len(s)} of {ns[(w, k)]} records visible")
            res.acked += sum(ns.get((w, k), 0) for k in a["C"])
            for k in a["C"]:
                if k not in vis:
                    res.lost += 1
                    res.notes.append(f"writer {w} txn {k}: acknowledged commit not visible")
            for k in a["A"]:
                if k in vis:
                    res.fail.append("visible")
                    res.notes.append(f"writer {w} txn {k}: acknowledged abort visible")
            done = a["C"] | a["A"]
            last = max(done, default=-1)
            inflight = last + 1
            for k in vis:
                if k > inflight:
                    res.fail.append("visible")
                    res.notes.append(f"writer {w} txn {k}: visible, though never begun before the kill")
            if a["K"] is not None and a["K"][0] == inflight and inflight in a["B"]:
                want = a["B"][inflight] and _expected_commit(a["K"][1])
                if (inflight in vis) != want:
                    res.fail.append("outcome")
                    res.notes.append(f"writer {w} txn {inflight} killed at {a['K'][1]}: "
                                     f"{'committed' if inflight in vis else 'aborted'}, expected "
                                     f"{'committed' if want else 'aborted'}")
            elif a["K"] is not None and a["K"][0] == inflight and inflight in vis:
                res.fail.append("outcome")
                res.notes.append(f"writer {w} txn {inflight} killed at {a['K'][1]} before its end: committed")
            if inflight in a["B"] and a["B"][inflight]:
                res.tx_inflight_commit += inflight in vis
                res.tx_inflight_abort += inflight not in vis
            res.tx_acked += len(done)
            want_off = max(vis, default=-1) + 1 or None
            if committed[w] != want_off:
                res.fail.append("offsets")
                res.notes.append(f"writer {w}: committed offset of in[{w}] is {committed[w]}, the last "
                                 f"committed transaction says {want_off}")
        errs = _errors(lg)
        res.checker_after = [("error", e) for e in errs]
        if errs:
            res.fail.append("checker")
            res.notes.append("verify after recovery: " + "; ".join(errs)[:300])
        # liveness: the ids work again
        side_end = lg.topic("side").partition(0).end_offset
        for w in range(nw):
            with lg.producer(transactional_id=f"tx-{w}") as p:
                p.init_transactions()
                p.begin_transaction()
                p.send("side", value=b"after-%d" % w, partition=0)
                p.commit_transaction()
        c = lg.consumer(isolation_level="read_committed", auto_offset_reset="earliest")
        c.assign([TP("side", 0)])
        c.seek(TP("side", 0), side_end)
        back, deadline = [], time.monotonic() + 10
        while len(back) < nw and time.monotonic() < deadline:
            back += c.poll(0.05)
        c.close()
        if sorted(r.value for r in back) != [b"after-%d" % w for w in range(nw)]:
            res.fail.append("liveness")
            res.notes.append(f"new transactions after recovery read back as {[r.value for r in back]}")
    if res.lost:
        res.fail.append("lost")
    if res.corrupt:
        res.fail.append("corrupt")
    res.fail = list(dict.fromkeys(res.fail))
