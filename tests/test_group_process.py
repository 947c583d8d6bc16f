"""Consumer groups with real OS processes (multiprocessing, spawn): balance, kill -9
failover, joins, cooperative vs eager rebalances, static membership, and at-least-once
delivery with members killed and restarted under a steady producer, checking that no two
members ever own one partition at once.

Workers report through append-only JSON-lines files (one `os.write` per line, so a
`kill -9` never leaves half a line and never wedges a shared queue):
  {"k": "assigned" | "revoked" | "lost", "tps": [[topic, p], ...], "t": ns}   listener calls
  {"k": "r", "recs": [[topic, p, offset], ...], "t": ns}                     a processed poll
Times are time.time_ns() taken on one machine, so they compare across processes.
"""
import json
import multiprocessing
import os
import random
import signal
import threading
import time

import pytest

import eventlog
from eventlog import TopicPartition as TP

SPAWN = multiprocessing.get_context("spawn")
STRESS = bool(os.environ.get("EVENTLOG_STRESS"))
BOUND_S = 10.0          # generous bound for "within 1 s" claims; the measured time is printed


# ------------------------------------------------------------------------------ worker side

def worker(path, group, name, outdir, stop, opts):
    fd = os.open(os.path.join(outdir, f"{name}.jsonl"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def emit(kind, **kw):
        os.write(fd, (json.dumps({"k": kind, "t": time.time_ns(), "w": name, **kw}) + "\n").encode())

    class Listener:
        def on_partitions_assigned(self, tps):
            emit("assigned", tps=[list(tp) for tp in tps])

        def on_partitions_revoked(self, tps):
            emit("revoked", tps=[list(tp) for tp in tps])

        def on_partitions_lost(self, tps):
            emit("lost", tps=[list(tp) for tp in tps])

    log = eventlog.open(path)
    copts = dict(opts.get("consumer", {}))
    c = log.consumer(group_id=group, auto_offset_reset="earliest", enable_auto_commit=False,
                     client_id=name, **copts)
    if "pattern" in opts:
        c.subscribe(pattern=opts["pattern"], listener=Listener())
    else:
        c.subscribe(opts.get("topics", ["t"]), listener=Listener())
    emit("joined", member=c._group.member_id, pid=os.getpid())
    delay = opts.get("process_s", 0.0)
    fork_helper = opts.get("fork_helper")
    parent = os.getppid()
    while not stop.is_set() and os.getppid() == parent:   # never outlive a killed test run
        recs = c.poll(timeout=0.05)
        try:
            c._group.check()    # the membership invariants after every step
        except AssertionError as e:
            emit("invariant", error=str(e))
            raise
        if fork_helper and c.assignment():
            fork_helper = None
            pid = os.fork()          # a long-lived helper, as a worker pool might start
            if pid == 0:
                with open(os.path.join(outdir, f"{name}.helper"), "w") as f:
                    f.write(str(os.getpid()))
                time.sleep(300)
                os._exit(0)
            emit("forked", helper=pid)
        if recs:
            emit("r", recs=[[r.topic, r.partition, r.offset] for r in recs])
            if delay:
                time.sleep(delay)
            c.commit()
    c.close()
    emit("closed")
    log.close()


def producer(path, topic, rate, duration, stop):
    log = eventlog.open(path)
    t = log.topic(topic)
    n = t.partition_count
    t0 = time.monotonic()
    i = 0
    parent = os.getppid()
    while not stop.is_set() and time.monotonic() - t0 < duration and os.getppid() == parent:
        t.partition(i % n).append(b"%d" % i, key=b"k%d" % i)
        i += 1
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    log.close()


# ------------------------------------------------------------------------------ test side

class Pool:
    """Workers of one group, started and killed by the test."""

    def __init__(self, path, group, tmp_path, **opts):
        self.path, self.group, self.opts = path, group, opts
        self.outdir = str(tmp_path / f"out-{group}")
        os.makedirs(self.outdir, exist_ok=True)
        self.procs = {}
        self.stops = {}
        self.killed = {}
        self.n = 0

    def start(self, name=None, **opts):
        name = name or f"w{self.n}"
        self.n += 1
        stop = SPAWN.Event()
        p = SPAWN.Process(target=worker, args=(self.path, self.group, name, self.outdir, stop,
                                               {**self.opts, **opts}), daemon=True)
        p.start()
        self.procs[name], self.stops[name] = p, stop
        return name

    def kill(self, name):
        p = self.procs.pop(name)
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        self.killed[name] = time.time_ns()

    def stop(self, name):
        self.stops[name].set()
        p = self.procs.pop(name)
        p.join(20)
        assert p.exitcode == 0, f"{name} exited with {p.exitcode}"

    def close(self):
        for name in list(self.procs):
            self.stops[name].set()
        for name, p in list(self.procs.items()):
            p.join(20)
            if p.is_alive():
                p.kill()
                p.join()
        self.procs.clear()
        broken = [e for e in self.events() if e["k"] == "invariant"]
        assert not broken, f"membership invariant broken: {broken}"

    def events(self, name=None):
        out = []
        for fn in sorted(os.listdir(self.outdir)):
            if name is not None and fn != f"{name}.jsonl":
                continue
            with open(os.path.join(self.outdir, fn)) as f:
                for line in f:
                    if line.endswith("\n"):
                        out.append(json.loads(line))
        return sorted(out, key=lambda e: e["t"])

    def member_of(self, name):
        for e in self.events(name):
            if e["k"] == "joined":
                return e["member"]
        return None


def wait_for(cond, timeout=BOUND_S, step=0.002, diag=None):
    t0 = time.monotonic()
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"condition not met within {timeout} s"
                                 + (f": {diag()}" if diag is not None else ""))
        time.sleep(step)


def group_state(g):
    return (f"generation {g.generation}, assignment {g.assignment()}, owners {g.owners()}, "
            f"members {[m.member_id for m in g.members()]}")


def balanced_owners(group, members, n_parts, topic="t"):
    """{member: [tp]} if every partition is owned by one of `members`, evenly; else None."""
    owners = group.owners()
    if len(owners) != n_parts or set(owners.values()) != set(members):
        return None
    by = {}
    for tp, m in owners.items():
        by.setdefault(m, []).append(tp)
    counts = [len(v) for v in by.values()]
    return by if max(counts) - min(counts) <= 1 else None


def wait_joined(pool, names):
    return wait_for(lambda: all(pool.member_of(n) for n in names) and [pool.member_of(n) for n in names])


def intervals(events, killed):
    """Ownership intervals per partition [(start, end, worker)] from listener events; a
    killed worker's open intervals end at its last event (it was dead after that)."""
    last = {}
    for e in events:
        last[e["w"]] = e["t"]
    open_ = {}
    out = {}
    for e in events:
        w = e["w"]
        if e["k"] == "assigned":
            for tp in map(tuple, e["tps"]):
                assert (tp, w) not in open_, f"{w} assigned {tp} twice"
                open_[(tp, w)] = e["t"]
        elif e["k"] in ("revoked", "lost"):
            for tp in map(tuple, e["tps"]):
                start = open_.pop((tp, w))
                out.setdefault(tp, []).append((start, e["t"], w))
    for (tp, w), start in open_.items():
        assert w in killed or w in last, w
        out.setdefault(tp, []).append((start, last[w], w))
    return out


def check_no_overlap(ivs):
    for tp, lst in ivs.items():
        lst = sorted(lst)
        for (s1, e1, w1), (s2, e2, w2) in zip(lst, lst[1:]):
            assert e1 <= s2, f"{tp}: {w1} owned it until {e1}, but {w2} from {s2}"


def check_records_inside_intervals(events, ivs):
    by = {}
    for tp, lst in ivs.items():
        for s, e, w in lst:
            by.setdefault((tp, w), []).append((s, e))
    for ev in events:
        if ev["k"] != "r":
            continue
        for t, p, _o in ev["recs"]:
            spans = by.get(((t, p), ev["w"]), [])
            assert any(s <= ev["t"] <= e for s, e in spans), \
                f"{ev['w']} processed {(t, p)} at {ev['t']} outside its ownership {spans}"


@pytest.fixture
def log(tmp_path):
    lg = eventlog.open(str(tmp_path / "log"))
    yield lg
    lg.close()


@pytest.fixture
def pool_factory(log, tmp_path):
    pools = []

    def make(group="g", **opts):
        p = Pool(log.path, group, tmp_path, **opts)
        pools.append(p)
        return p
    yield make
    for p in pools:
        p.close()


# ------------------------------------------------------------------------------ tests

def test_three_members_six_partitions_kill9_and_join(log, pool_factory):
    """3 members on 6 partitions get 2 each; kill -9 of the leader: the survivors own its
    partitions within milliseconds; a new member then gets a fair share."""
    log.create_topic("t", partitions=6)
    g = log.group("g")
    pool = pool_factory()
    names = [pool.start() for _ in range(3)]
    mids = wait_joined(pool, names)
    t0 = time.monotonic()
    wait_for(lambda: balanced_owners(g, mids, 6))
    print(f"\n3 members balanced {time.monotonic() - t0:.3f} s after all joined")
    assert sorted(len(v) for v in g.assignment().values()) == [2, 2, 2]

    leader = wait_for(lambda: [m.member_id for m in g.members() if m.is_leader])[0]
    victim = names[mids.index(leader)]
    survivors = [m for m in mids if m != leader]
    t_kill = time.monotonic()
    pool.kill(victim)
    by = wait_for(lambda: balanced_owners(g, survivors, 6))
    took = time.monotonic() - t_kill
    print(f"kill -9 of the leader -> survivors own all 6 partitions after {took * 1000:.1f} ms")
    assert sorted(len(v) for v in by.values()) == [3, 3]
    assert took < BOUND_S

    t_join = time.monotonic()
    new = pool.start()
    new_mid = wait_joined(pool, [new])[0]
    by = wait_for(lambda: balanced_owners(g, survivors + [new_mid], 6))
    print(f"a new member owns its fair share {time.monotonic() - t_join:.3f} s after start "
          f"(process start included)")
    assert len(by[new_mid]) == 2
    # the consumers really took them (listener called inside poll)
    wait_for(lambda: any(e["k"] == "assigned" for e in pool.events(new)))


def test_cooperative_rebalance_keeps_unaffected_partitions(log, pool_factory):
    """cooperative-sticky: when a member joins, the others revoke only what moves (one each)
    and keep consuming the rest; eager (range): everybody revokes everything."""
    for strategy, topic in (("cooperative-sticky", "coop"), ("range", "eager")):
        log.create_topic(topic, partitions=6)
        pool = pool_factory(group=f"g-{strategy}", topics=[topic],
                            consumer={"partition_assignment_strategy": strategy})
        g = log.group(f"g-{strategy}")
        a, b = pool.start(), pool.start()
        mids = wait_joined(pool, [a, b])
        before = wait_for(lambda: balanced_owners(g, mids, 6), diag=lambda: group_state(g))
        wait_for(lambda: len([e for e in pool.events() if e["k"] == "assigned"]) >= 2
                 and sum(len(e["tps"]) for e in pool.events() if e["k"] == "assigned") >= 6)
        t_join = time.time_ns()
        c = pool.start()
        cm = wait_joined(pool, [c])[0]
        after = wait_for(lambda: balanced_owners(g, mids + [cm], 6))
        time.sleep(0.2)
        revoked = {w: [tuple(tp) for e in pool.events(w) if e["k"] == "revoked" and e["t"] > t_join
                       for tp in e["tps"]] for w in (a, b)}
        for w, mid in zip((a, b), mids):
            kept = set(before[mid]) & set(after[mid])
            moved = set(before[mid]) - set(after[mid])
            assert len(kept) == 2 and len(moved) == 1 or strategy == "range"
            if strategy == "cooperative-sticky":
                assert sorted(revoked[w]) == sorted(moved), (w, revoked[w], moved)
            else:
                assert sorted(revoked[w]) == sorted(before[mid]), (w, revoked[w])
        pool.close()


def test_static_member_restart_gets_its_partitions_back_without_rebalance(log, pool_factory):
    log.create_topic("t", partitions=4)
    g = log.group("g")
    pool = pool_factory(consumer={"session_timeout_ms": 30_000})
    pool.start("s1", consumer={"group_instance_id": "one", "session_timeout_ms": 30_000})
    pool.start("s2", consumer={"group_instance_id": "two", "session_timeout_ms": 30_000})
    before = wait_for(lambda: balanced_owners(g, ["one", "two"], 4))
    gen = g.generation
    time.sleep(0.2)
    t_kill = time.time_ns()
    pool.kill("s1")
    time.sleep(0.5)
    assert g.generation == gen                    # no rebalance: "one" is expected back
    assert set(g.owners()) == set(before["two"])  # and nobody took its partitions
    t0 = time.monotonic()
    pool.start("s1b", consumer={"group_instance_id": "one", "session_timeout_ms": 30_000})
    after = wait_for(lambda: balanced_owners(g, ["one", "two"], 4))
    print(f"\nstatic member back with its partitions {time.monotonic() - t0:.3f} s after restart")
    assert after == before and g.generation == gen
    assert not [e for e in pool.events("s2") if e["k"] in ("revoked", "lost") and e["t"] > t_kill]


def test_static_member_expires_after_session_timeout(log, pool_factory):
    log.create_topic("t", partitions=4)
    g = log.group("g")
    pool = pool_factory()
    pool.start("s1", consumer={"group_instance_id": "one", "session_timeout_ms": 800})
    pool.start("s2", consumer={"group_instance_id": "two", "session_timeout_ms": 800})
    wait_for(lambda: balanced_owners(g, ["one", "two"], 4))
    t0 = time.monotonic()
    pool.kill("s1")
    wait_for(lambda: balanced_owners(g, ["two"], 4))
    took = time.monotonic() - t0
    print(f"\nstatic member's partitions moved {took:.3f} s after its death (session timeout 0.8 s)")
    assert took >= 0.7


def test_stalled_member_loses_partitions_and_its_late_commit_fails(log, pool_factory):
    """A member that does not poll for max_poll_interval_ms leaves by itself; another takes its
    partitions; its late commit raises CommitFailedError and changes nothing; its next poll
    reports the partitions lost and joins again."""
    from eventlog.errors import CommitFailedError
    t = log.create_topic("t", partitions=4)
    for i in range(40):
        t.partition(i % 4).append(b"x")
    g = log.group("g")
    pool = pool_factory()
    other = pool.start()
    other_mid = wait_joined(pool, [other])[0]
    wait_for(lambda: balanced_owners(g, [other_mid], 4))

    events = []

    class L:
        def on_partitions_assigned(self, tps):
            events.append(("assigned", tps))

        def on_partitions_revoked(self, tps):
            events.append(("revoked", tps))

        def on_partitions_lost(self, tps):
            events.append(("lost", tps))

    c = log.consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=False,
                     max_poll_interval_ms=600)
    c.subscribe(["t"], listener=L())
    me = c._group.member_id
    got = []
    wait_for(lambda: (got.extend(c.poll(timeout=0.01)), balanced_owners(g, [other_mid, me], 4)
                      and len(c.assignment()) == 2)[1])
    mine = sorted(c.assignment())
    for tp in mine:
        for _ in range(10):
            t.partition(tp.partition).append(b"y")
    got = []
    while len(got) < 20:
        got += c.poll(timeout=0.05)
    assert {TP(r.topic, r.partition) for r in got} == set(mine)
    committed_before = g.committed()
    t0 = time.monotonic()
    wait_for(lambda: balanced_owners(g, [other_mid], 4), timeout=5)   # we do not poll
    print(f"\nstalled member's partitions owned by the other {time.monotonic() - t0:.3f} s after "
          f"its last poll (max_poll_interval_ms=600)")
    stale = {tp: 999 for tp in mine}
    with pytest.raises(CommitFailedError, match="left group"):
        c.commit(stale)
    with pytest.raises(CommitFailedError):
        c.commit()
    after = g.committed()
    assert all(after.get(tp) == committed_before.get(tp) or after.get(tp, 0) < 999 for tp in mine)
    assert all(after.get(tp) != 999 for tp in mine)
    # next poll: lost callback, then back in the group with a fair share
    c.poll(timeout=0.01)
    assert ("lost", mine) in events
    assert c._group.member_id != me
    wait_for(lambda: (c.poll(timeout=0.01), balanced_owners(g, [other_mid, c._group.member_id], 4))[1])
    c.close()


def run_at_least_once(log, pool_factory, *, duration, rate, n_workers, kill_every, n_parts=6,
                      strategy="cooperative-sticky", seed=0):
    rng = random.Random(seed)
    topic = log.create_topic("t", partitions=n_parts)
    g = log.group("g")
    pool = pool_factory(consumer={"partition_assignment_strategy": strategy})
    for _ in range(n_workers):
        pool.start()
    stop_prod = SPAWN.Event()
    prod = SPAWN.Process(target=producer, args=(log.path, "t", rate, duration, stop_prod), daemon=True)
    prod.start()
    # committed offsets never move backwards, whoever dies when (sampled all along)
    sampling = threading.Event()
    backwards = []

    def sample():
        last = {}
        while not sampling.is_set():
            for tp, off in g.committed().items():
                if off < last.get(tp, 0):
                    backwards.append((tp, last[tp], off))
                last[tp] = off
            time.sleep(0.005)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    kills = 0
    t0 = time.monotonic()
    while prod.is_alive():
        time.sleep(kill_every * rng.uniform(0.5, 1.5))
        if not prod.is_alive():
            break
        victim = rng.choice(sorted(pool.procs))
        pool.kill(victim)
        kills += 1
        if rng.random() < 0.3 and len(pool.procs) > 1:
            pool.stop(rng.choice(sorted(pool.procs)))   # a clean leave too, now and then
        while len(pool.procs) < n_workers:
            pool.start()
    prod.join()
    ends = {TP("t", p): topic.partition(p).end_offset for p in range(n_parts)}
    wait_for(lambda: g.committed() == ends, timeout=60, step=0.05)
    sampling.set()
    sampler.join()
    assert not backwards, f"committed offsets moved backwards: {backwards[:5]}"
    print(f"\n{sum(ends.values())} records, {kills} kills in {time.monotonic() - t0:.1f} s; "
          f"committed == end offsets")
    pool.close()
    events = pool.events()
    seen = {}
    for e in events:
        if e["k"] == "r":
            for t, p, o in e["recs"]:
                seen.setdefault((t, p), set()).add(o)
    for tp, end in ends.items():
        missing = set(range(end)) - seen.get(tuple(tp), set())
        assert not missing, f"{tp}: {len(missing)} records never processed, e.g. {sorted(missing)[:5]}"
    ivs = intervals(events, pool.killed)
    check_no_overlap(ivs)
    check_records_inside_intervals(events, ivs)
    dup = sum(len(e["recs"]) for e in events if e["k"] == "r") - sum(ends.values())
    print(f"processed at least once; {dup} records processed twice (after kills); "
          f"{sum(len(v) for v in ivs.values())} ownership intervals, none overlapping")
    assert g.is_empty()


def test_at_least_once_with_kills_and_restarts(log, pool_factory):
    run_at_least_once(log, pool_factory, duration=4.0, rate=400, n_workers=3, kill_every=0.8)


@pytest.mark.slow
def test_stress_random_kills(log, pool_factory):
    """Short by default; EVENTLOG_STRESS=1 for a long run."""
    if STRESS:
        run_at_least_once(log, pool_factory, duration=120.0, rate=1000, n_workers=5,
                          kill_every=0.5, n_parts=12, seed=int(time.time()))
    else:
        run_at_least_once(log, pool_factory, duration=3.0, rate=300, n_workers=4,
                          kill_every=0.4, n_parts=8, strategy="range", seed=1)


def test_member_killed_while_its_forked_helper_lives_loses_its_partitions(log, pool_factory):
    """Issue 11 item 5: a member that fork()s a long-lived helper and is then killed with
    SIGKILL: the helper must hold none of its locks, so its partitions move at once (they
    used to stay until the helper exited)."""
    from eventlog.offsets import check_committed_offsets
    t = log.create_topic("t", partitions=4)
    for i in range(40):
        t.partition(i % 4).append(b"%d" % i)
    g = log.group("g")
    pool = pool_factory()
    a = pool.start(fork_helper=True)
    mid_a = wait_joined(pool, [a])[0]
    wait_for(lambda: balanced_owners(g, [mid_a], 4), diag=lambda: group_state(g))
    helper_file = os.path.join(pool.outdir, f"{a}.helper")
    helper = int(wait_for(lambda: os.path.exists(helper_file) and open(helper_file).read()))
    try:
        b = pool.start()
        mid_b = wait_joined(pool, [b])[0]
        wait_for(lambda: balanced_owners(g, [mid_a, mid_b], 4), diag=lambda: group_state(g))
        t_kill = time.monotonic()
        pool.kill(a)
        os.kill(helper, 0)           # the helper is alive (it sleeps for 300 s)
        wait_for(lambda: balanced_owners(g, [mid_b], 4), diag=lambda: group_state(g))
        print(f"\nmember killed, its forked helper alive: partitions moved after "
              f"{(time.monotonic() - t_kill) * 1000:.1f} ms")
        wait_for(lambda: sum(len(e["recs"]) for e in pool.events() if e["k"] == "r") >= 40)
        pool.close()
        assert check_committed_offsets(log) == []
    finally:
        os.kill(helper, signal.SIGKILL)
