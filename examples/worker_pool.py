"""Worker pool: several processes share one consumer group, so the topic's partitions are
spread among them (and would move if one of them stopped or died).

The parent creates a topic, starts a `multiprocessing` pool whose workers each open the log
and subscribe to the topic as members of group "workers", produces jobs, waits until the
group has committed every one of them, then stops the pool and prints who did what.

Run:  python examples/worker_pool.py [workers] [log directory]   (defaults: 3, a fresh temp dir)
"""
import multiprocessing
import os
import sys
import tempfile
import time

import eventlog

JOBS = 3000
PARTITIONS = 6
STOP = None


def init_worker(stop):
    global STOP
    STOP = stop


def work(path, worker):
    """One pool worker: a member of group "workers" until the parent says stop."""
    done = 0
    total = 0
    partitions = set()

    class Listener:   # runs inside poll(), in this worker
        def on_partitions_assigned(self, tps):
            partitions.update(tp.partition for tp in tps)
            print(f"  worker {worker} (pid {os.getpid()}) got partitions {[tp.partition for tp in tps]}")

        def on_partitions_revoked(self, tps):
            print(f"  worker {worker} gives up partitions {[tp.partition for tp in tps]}")

    # Open the log in the worker: objects that hold file locks are never shared across fork.
    with eventlog.open(path) as log, \
            log.consumer(group_id="workers", auto_offset_reset="earliest", enable_auto_commit=False,
                         client_id=f"worker-{worker}") as consumer:
        consumer.subscribe(["jobs"], listener=Listener())
        while not STOP.is_set():
            records = consumer.poll(timeout=0.1)
            for record in records:
                total += int(record.value)      # the "job": a little arithmetic and a nap
                done += 1
                time.sleep(0.0002)
            if records:
                consumer.commit()               # at least once: commit after processing
    return worker, done, total, sorted(partitions)


def main():
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    path = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="eventlog-pool-")
    ctx = multiprocessing.get_context("spawn")   # each worker opens the log itself
    with eventlog.open(path) as log:
        if "jobs" not in log.topics():
            log.create_topic("jobs", partitions=PARTITIONS)
        topic = log.topic("jobs")
        group = log.group("workers")
        stop = ctx.Event()
        t0 = time.monotonic()
        with ctx.Pool(workers, initializer=init_worker, initargs=(stop,)) as pool:
            results = pool.starmap_async(work, [(path, i) for i in range(workers)])
            # wait until every worker has joined and the partitions are spread among them
            while len(group.members()) < workers or len(set(group.owners().values())) < min(workers, PARTITIONS):
                if time.monotonic() - t0 > 60:
                    raise SystemExit("the workers did not join the group")
                time.sleep(0.01)
            print(f"{workers} workers joined in {time.monotonic() - t0:.2f} s; producing {JOBS} jobs")
            with log.producer() as producer:
                for i in range(JOBS):
                    producer.send("jobs", key=b"job-%d" % i, value=b"%d" % i)
            ends = {p.partition: p.end_offset for p in topic.partitions}
            while True:   # wait until the group has committed every partition's end offset
                committed = {tp.partition: off for tp, off in group.committed().items()
                             if tp.topic == "jobs"}
                if committed == ends:
                    break
                if time.monotonic() - t0 > 60:
                    raise SystemExit(f"workers did not finish: committed {committed}, ends {ends}")
                time.sleep(0.05)
            print(f"group 'workers', generation {group.generation} ({group.assignor}):")
            for m in group.members():
                print(f"  {m.client_id} (pid {m.pid}) owns partitions {[tp.partition for tp in m.owned]}")
            print(f"lag: {sum(group.lag().values())}; stopping the pool")
            stop.set()
            out = results.get(timeout=30)
        for worker, done, total, partitions in sorted(out):
            print(f"worker {worker}: {done} jobs from partitions {partitions}")
        assert sum(done for _w, done, _t, _p in out) >= JOBS                 # at least once
        assert sum(total for _w, _d, total, _p in out) >= sum(range(JOBS))
        print(f"{JOBS} jobs done by {workers} workers in {time.monotonic() - t0:.2f} s; log at {path}")


if __name__ == "__main__":
    main()
