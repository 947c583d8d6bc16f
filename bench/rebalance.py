"""Rebalance latency of consumer groups: time from a member's death, and from a member's
start, to a balanced group.

N member processes (multiprocessing, spawn) consume one topic of P partitions in one group.
Each trial kills one member with SIGKILL (alternately the leader and a follower), waits
for the group to be balanced among the survivors, then starts a replacement and waits for
the group to be balanced again. "Balanced" is seen from outside, as an admin would:
every partition is held (ownership lock) by a live member, and the counts differ by at
most one (`log.group(g).owners()`, polled every ~0.5 ms by this process).

Reported per event, p50 / p99 / max over the trials (with few trials p99 is close to max):
- "-> locks": until every partition is held by the right members (ownership flocks);
- "-> consumers": until the consumers that received partitions have called
  `on_partitions_assigned` for them inside `poll` (read from the members' event files);
- for a start, from the new member's `subscribe()` call, and from its process spawn
  (which adds the interpreter start and imports, ~0.2-0.5 s, nothing of the group's).

    python bench/rebalance.py [--members 3] [--partitions 12] [--trials 20]
                              [--strategy cooperative-sticky] [--rate 0]
"""
import argparse
import json
import multiprocessing
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import eventlog  # noqa: E402

SPAWN = multiprocessing.get_context("spawn")


def member(path, name, outdir, strategy):
    fd = os.open(os.path.join(outdir, f"{name}.jsonl"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def emit(kind, **kw):
        os.write(fd, (json.dumps({"k": kind, "t": time.time_ns(), **kw}) + "\n").encode())

    class Listener:
        def on_partitions_assigned(self, tps):
            emit("assigned", tps=[list(tp) for tp in tps])

    log = eventlog.open(path)
    c = log.consumer(group_id="bench", auto_offset_reset="latest", enable_auto_commit=False,
                     partition_assignment_strategy=strategy, client_id=name)
    emit("subscribing")
    c.subscribe(["t"], listener=Listener())
    emit("joined", member=c._group.member_id)
    parent = os.getppid()
    while os.getppid() == parent:
        for _ in c.poll(timeout=0.2):
            pass


def producer(path, rate):
    log = eventlog.open(path)
    t = log.topic("t")
    n = t.partition_count
    i = 0
    parent = os.getppid()
    t0 = time.monotonic()
    while os.getppid() == parent:
        t.partition(i % n).append(b"x")
        i += 1
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def events(outdir, name):
    out = []
    try:
        with open(os.path.join(outdir, f"{name}.jsonl")) as f:
            for line in f:
                if line.endswith("\n"):
                    out.append(json.loads(line))
    except FileNotFoundError:
        pass
    return out


def member_id(outdir, name, timeout=30):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        for e in events(outdir, name):
            if e["k"] == "joined":
                return e["member"]
        time.sleep(0.001)
    raise SystemExit(f"member {name} did not join within {timeout} s")


def wait_balanced(group, members, n_parts, timeout=30):
    """time.time_ns() when owners() first showed a balanced group of `members`."""
    t0 = time.monotonic()
    members = set(members)
    while time.monotonic() - t0 < timeout:
        owners = group.owners()
        if len(owners) == n_parts and set(owners.values()) == members:
            counts = {}
            for m in owners.values():
                counts[m] = counts.get(m, 0) + 1
            if max(counts.values()) - min(counts.values()) <= 1:
                return time.time_ns(), owners
        time.sleep(0.0005)
    raise SystemExit(f"group not balanced within {timeout} s: {group.owners()}")


def consumers_done(outdir, names_by_member, moved, since_ns, owners, timeout=10):
    """time.time_ns() of the last on_partitions_assigned call, after `since_ns`, that gave a
    moved partition to its new owner."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        last = 0
        missing = False
        for tp in moved:
            name = names_by_member[owners[tp]]
            ts = [e["t"] for e in events(outdir, name)
                  if e["k"] == "assigned" and e["t"] >= since_ns and list(tp) in e["tps"]]
            if not ts:
                missing = True
                break
            last = max(last, min(ts))
        if not missing:
            return last
        time.sleep(0.001)
    return None


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=12)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--strategy", default="cooperative-sticky")
    ap.add_argument("--rate", type=float, default=0, help="records/s appended meanwhile (0: none)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    root = tempfile.mkdtemp(prefix="eventlog-bench-rebalance-")
    outdir = os.path.join(root, "events")
    os.makedirs(outdir)
    log = eventlog.open(os.path.join(root, "log"))
    log.create_topic("t", partitions=args.partitions)
    g = log.group("bench")
    procs = {}
    names = {}           # member id -> name
    n = [0]

    def start():
        name = f"m{n[0]}"
        n[0] += 1
        p = SPAWN.Process(target=member, args=(log.path, name, outdir, args.strategy), daemon=True)
        t_spawn = time.time_ns()
        p.start()
        mid = member_id(outdir, name)
        procs[mid] = p
        names[mid] = name
        return mid, name, t_spawn

    prod = None
    if args.rate:
        prod = SPAWN.Process(target=producer, args=(log.path, args.rate), daemon=True)
        prod.start()
    for _ in range(args.members):
        start()
    wait_balanced(g, procs, args.partitions)

    res = {k: [] for k in ("kill leader -> locks", "kill leader -> consumers",
                           "kill follower -> locks", "kill follower -> consumers",
                           "subscribe -> locks", "subscribe -> consumers", "spawn -> locks")}
    try:
        for trial in range(args.trials):
            _, before = wait_balanced(g, procs, args.partitions)
            leader = [m.member_id for m in g.members() if m.is_leader]
            kind = "leader" if trial % 2 == 0 and leader else "follower"
            victim = leader[0] if kind == "leader" else rng.choice(sorted(set(procs) - set(leader)))
            p = procs.pop(victim)
            t_kill = time.time_ns()
            os.kill(p.pid, signal.SIGKILL)
            t_bal, owners = wait_balanced(g, procs, args.partitions)
            p.join()
            res[f"kill {kind} -> locks"].append((t_bal - t_kill) / 1e6)
            moved = [tp for tp, m in before.items() if m == victim]
            t_cons = consumers_done(outdir, names, moved, t_kill, owners)
            if t_cons is not None:
                res[f"kill {kind} -> consumers"].append((t_cons - t_kill) / 1e6)

            _, before = t_bal, owners
            mid, name, t_spawn = start()
            t_sub = next(e["t"] for e in events(outdir, name) if e["k"] == "subscribing")
            t_bal, owners = wait_balanced(g, procs, args.partitions)
            res["subscribe -> locks"].append((t_bal - t_sub) / 1e6)
            res["spawn -> locks"].append((t_bal - t_spawn) / 1e6)
            moved = [tp for tp, m in owners.items() if m == mid]
            t_cons = consumers_done(outdir, names, moved, t_sub, owners)
            if t_cons is not None:
                res["subscribe -> consumers"].append((t_cons - t_sub) / 1e6)
            print(f"trial {trial + 1}/{args.trials}: kill {kind} "
                  f"{res[f'kill {kind} -> locks'][-1]:.1f} ms, join {res['subscribe -> locks'][-1]:.1f} ms",
                  file=sys.stderr)
    finally:
        for p in procs.values():
            p.kill()
            p.join()
        if prod is not None:
            prod.kill()
            prod.join()
        log.close()
        shutil.rmtree(root, ignore_errors=True)

    print(f"\nrebalance latency: {args.members} members, {args.partitions} partitions, "
          f"{args.strategy}, {args.trials} trials, producer {args.rate:g} rec/s, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"{'event':32s} {'n':>4s} {'p50 ms':>9s} {'p99 ms':>9s} {'max ms':>9s}")
    for k, xs in res.items():
        if xs:
            print(f"{k:32s} {len(xs):4d} {statistics.median(xs):9.1f} {pct(xs, 0.99):9.1f} {max(xs):9.1f}")


if __name__ == "__main__":
    main()
