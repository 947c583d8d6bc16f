"""The exactly-once pipeline under kill -9 (issue 15, "Proof"): worker processes
consume-transform-produce with transactions while they are killed with SIGKILL at random;
the output read with read_committed must hold each input record's result exactly once.

Run from the project root (the venv active)::

    python -m stress.eos_pipeline --seconds 300            # several minutes, input fed throughout
    python -m stress.eos_pipeline --input 4000 --kills 12  # a fixed input, 12 kills (the CI shape)

Setup: topic "input" (12 partitions), "output" (4). Worker ``i`` of 3 (``python -m
stress.eos_pipeline --worker DIR i 3``) reads input partitions i, i + 3, ... with group
"pipe", read_committed, auto-commit off; per poll (up to 20 records) one transaction: for
each record ``b"r:" + value`` to "output", the next input offsets sent to the transaction,
a flush (output written, not committed: the window a kill should hit), a random pause
(0-20 ms of "processing"), the commit. Its transactional id is ``pipe-i``, so the next
incarnation's ``init_transactions()`` finishes what a killed one left before it reads its
committed offsets.

Two shapes (`run`):
- *fixed input* (``--input N --kills K``): N records written up front; a random live worker
  (up more than 0.7 s) is killed and restarted each time read_committed output crosses one of
  K random points between 5% and 90% of N (so the kills land while the pipeline runs,
  however fast the machine).
- *timed* (``--seconds S``): a feeder appends input records in small batches for S seconds
  while a random worker is killed every 0.2-3 s and restarted at once.
Then: no more kills; the workers run until read_committed shows every input's result (or a
deadline); they are killed; each id is recovered by ``init_transactions()`` (as a next
incarnation would); the rest of the output is read.

Checks (exit status 1 if any fails): every result exactly once (``dup`` 0, ``missing`` 0,
nothing not derived from an input); the group's committed offset of every input partition
is its end (every input consumed, offsets committed with the results); no open transaction
left; the invariant checker (``Log.verify()``) reports no error.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time

import eventlog
from eventlog.record import TopicPartition as TP

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTITIONS = 12
OUTPUT_PARTITIONS = 4
GROUP = "pipe"


def worker(d, index, workers, partitions=PARTITIONS):
    """One worker (see the module docstring); runs until killed."""
    log = eventlog.open(d)
    p = log.producer(transactional_id=f"pipe-{index}")
    p.init_transactions()  # fences a killed predecessor and finishes what it left
    c = log.consumer(group_id=GROUP, enable_auto_commit=False, auto_offset_reset="earliest",
                     isolation_level="read_committed")
    c.assign([TP("input", i) for i in range(index, partitions, workers)])
    while True:
        recs = c.poll(0.5, max_records=20)
        if not recs:
            continue
        p.begin_transaction()
        nxt = {}
        for r in recs:
            p.send("output", key=r.value, value=b"r:" + r.value)
            nxt[TP(r.topic, r.partition)] = r.offset + 1
        p.send_offsets_to_transaction(nxt, c.group_metadata())
        p.flush()  # output written, not yet committed: the window a kill -9 should hit
        time.sleep(random.uniform(0, 0.02))  # "processing time"
        p.commit_transaction()


class Report(dict):
    """The run's figures: inputs, results (read_committed), dup, missing, foreign, kills,
    uncommitted (records read_uncommitted sees), offsets_bad, open_txns, checker_errors,
    seconds; `ok` when every check holds."""

    @property
    def ok(self):
        return (self["dup"] == 0 and self["missing"] == 0 and self["foreign"] == 0 and not self["offsets_bad"]
                and not self["open_txns"] and not self["checker_errors"] and self["complete"])


def run(d, *, n_input=None, kills=None, seconds=None, seed=0, workers=3, drain_seconds=300, progress=False):
    """Run the pipeline in directory `d` (made here): the fixed-input shape with `n_input`
    and `kills`, or the timed one with `seconds`. Returns a `Report`."""
    t0 = time.monotonic()
    rng = random.Random(seed)
    timed = seconds is not None
    with eventlog.open(d) as lg:
        lg.create_topic("input", partitions=PARTITIONS)
        lg.create_topic("output", partitions=OUTPUT_PARTITIONS)
        if not timed:
            with lg.producer() as p:
                for i in range(n_input):
                    p.send("input", value=b"%08d" % i, partition=i % PARTITIONS)
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    procs, started = {}, {}

    def start(i):
        procs[i] = subprocess.Popen([sys.executable, "-m", "stress.eos_pipeline", "--worker", d, str(i),
                                     str(workers)], cwd=ROOT, env=env)
        started[i] = time.monotonic()

    def kill(i):
        procs[i].kill()  # SIGKILL
        procs[i].wait()

    fed = [0 if timed else n_input]
    stop_feed = threading.Event()

    def feed():
        with eventlog.open(d) as lg, lg.producer() as p:
            while not stop_feed.is_set():
                for _ in range(rng.randint(1, 40)):
                    p.send("input", value=b"%08d" % fed[0], partition=fed[0] % PARTITIONS)
                    fed[0] += 1
                p.flush()
                stop_feed.wait(0.01)

    n_kills = 0
    seen = []
    feeder = threading.Thread(target=feed, daemon=True) if timed else None
    try:
        for i in range(workers):
            start(i)
        with eventlog.open(d) as lg:
            c = lg.consumer(isolation_level="read_committed", auto_offset_reset="earliest")
            c.assign([TP("output", p) for p in range(OUTPUT_PARTITIONS)])
            if timed:
                feeder.start()
                end = time.monotonic() + seconds
                next_kill = time.monotonic() + rng.uniform(0.2, 3)
                last_note = time.monotonic()
                while time.monotonic() < end:
                    seen += c.poll(0.1)
                    up = [i for i in range(workers) if time.monotonic() - started[i] > 0.7]
                    if time.monotonic() >= next_kill and up:
                        i = rng.choice(up)
                        kill(i)
                        n_kills += 1
                        start(i)
                        next_kill = time.monotonic() + rng.uniform(0.2, 3)
                    if progress and time.monotonic() - last_note > 30:
                        last_note = time.monotonic()
                        print(f"  {time.monotonic() - t0:.0f} s: fed {fed[0]}, results {len(seen)}, "
                              f"kills {n_kills}", file=sys.stderr, flush=True)
                stop_feed.set()
                feeder.join()
            else:
                points = sorted(rng.sample(range(n_input // 20, n_input * 9 // 10), kills))
                deadline = time.monotonic() + drain_seconds
                while time.monotonic() < deadline and n_kills < kills:
                    seen += c.poll(0.1)
                    up = [i for i in range(workers) if time.monotonic() - started[i] > 0.7]
                    if len(seen) >= points[n_kills] and up:
                        i = rng.choice(up)
                        kill(i)
                        n_kills += 1
                        start(i)
            # no more kills: let the workers finish the input
            n_input = fed[0]
            deadline = time.monotonic() + drain_seconds
            while time.monotonic() < deadline and len(seen) < n_input:
                seen += c.poll(0.1)
            for i in range(workers):
                kill(i)
            # finish what the last kills left, as each worker's next incarnation would
            for i in range(workers):
                with lg.producer(transactional_id=f"pipe-{i}") as p:
                    p.init_transactions()
            while True:
                more = c.poll(0.3)
                if not more:
                    break
                seen += more
            c.close()
            vals = [r.value for r in seen]
            want = {b"r:%08d" % i for i in range(n_input)}
            got = set(vals)
            unc = lg.consumer(auto_offset_reset="earliest")
            unc.assign([TP("output", p) for p in range(OUTPUT_PARTITIONS)])
            n_unc = 0
            while True:
                more = unc.poll(0.3)
                if not more:
                    break
                n_unc += len(more)
            unc.close()
            g = lg.consumer(group_id=GROUP, enable_auto_commit=False)
            offsets_bad = []
            for p in range(PARTITIONS):
                end_off = lg.topic("input").partition(p).end_offset
                if g.committed(TP("input", p)) != end_off:
                    offsets_bad.append(f"input[{p}]: committed {g.committed(TP('input', p))}, end {end_off}")
            g.close()
            open_txns = [s["transactional_id"] for s in lg.transaction_coordinator().open_transactions()]
            checker = [str(x) for x in lg.verify().errors]
    finally:
        stop_feed.set()
        for pr in procs.values():
            if pr.poll() is None:
                pr.kill()
                pr.wait()
    return Report(inputs=n_input, results=len(vals), dup=len(vals) - len(got), missing=len(want - got),
                  foreign=len(got - want), complete=len(got & want) == n_input, kills=n_kills,
                  uncommitted=n_unc, offsets_bad=offsets_bad, open_txns=open_txns, checker_errors=checker,
                  seconds=round(time.monotonic() - t0, 1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, help="timed shape: feed input and kill workers for this long")
    ap.add_argument("--input", type=int, default=4000, help="fixed shape: input records (default 4000)")
    ap.add_argument("--kills", type=int, default=12, help="fixed shape: kills (default 12)")
    ap.add_argument("--seed", type=int, default=None, help="seed of the kill schedule (default: time)")
    ap.add_argument("--dir", help="log directory to create (default: a temporary one, removed after)")
    ap.add_argument("--json", metavar="FILE", help="write the report as JSON")
    ap.add_argument("--worker", nargs=3, metavar=("DIR", "INDEX", "WORKERS"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.worker[0], int(a.worker[1]), int(a.worker[2]))
        return 0
    import shutil
    import tempfile
    seed = a.seed if a.seed is not None else int(time.time())
    tmp = None
    d = a.dir
    if d is None:
        tmp = tempfile.mkdtemp(prefix="eos-pipeline-")
        d = os.path.join(tmp, "log")
    try:
        if a.seconds is not None:
            rep = run(d, seconds=a.seconds, seed=seed, progress=True)
        else:
            rep = run(d, n_input=a.input, kills=a.kills, seed=seed)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    rep["seed"] = seed
    print(json.dumps(rep, indent=1))
    print("OK: every input's result exactly once" if rep.ok else "FAILED", file=sys.stderr)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rep, f, indent=1)
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
