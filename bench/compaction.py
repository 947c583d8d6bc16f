"""Compaction throughput and memory: build a partition of --mb megabytes of records over
--keys distinct keys, then time `log.maintain()` compacting it.

    PYTHONPATH=. python bench/compaction.py            # 200 MB, 100,000 keys
    PYTHONPATH=. python bench/compaction.py --mb 1000  # the issue's 1 GB

Reports input MB/s (bytes of closed segments read / seconds) and peak RSS (ru_maxrss) before
and during compaction. The partition is written in a child process so the writer's memory
does not count.
"""
import argparse
import multiprocessing
import os
import random
import resource
import shutil
import tempfile
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
import eventlog  # noqa: E402


def build(path, mb, keys, value_size, batch):
    log = eventlog.open(path)
    p = log.create_topic("t", cleanup_policy="compact", min_cleanable_dirty_ratio=0.0,
                         delete_retention_ms=3600_000).partition(0)
    rng = random.Random(1)
    val = os.urandom(value_size)
    total = mb << 20
    written = 0
    while written < total:
        recs = [(b"key-%08d" % rng.randrange(keys), val) for _ in range(batch)]
        p.append_batch(recs)
        written += batch * (value_size + 12)
    p.append(b"end", key=b"end")  # roll nothing; the active segment is left alone anyway


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--value-size", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="elcompact-", dir=a.dir)
    try:
        t0 = time.perf_counter()
        pr = multiprocessing.get_context("spawn").Process(target=build, args=(root, a.mb, a.keys, a.value_size, a.batch))
        pr.start()
        pr.join()
        t_build = time.perf_counter() - t0
        log = eventlog.open(root)
        p = log.topic("t").partition(0)
        bases = p._list_bases()
        seg_bytes = [os.path.getsize(os.path.join(p.dir, f"{b:020d}.log")) for b in bases]
        closed = sum(seg_bytes[:-1])
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        rep = log.maintain()[p.tp]
        dt = time.perf_counter() - t0
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        after = sum(os.path.getsize(os.path.join(p.dir, f"{b:020d}.log")) for b in p._list_bases())
        print(f"partition: {sum(seg_bytes) / 1e6:.0f} MB in {len(bases)} segments ({closed / 1e6:.0f} MB closed), "
              f"{a.keys} keys, {a.value_size} B values (built in {t_build:.1f} s)")
        print(f"compaction: {dt:.2f} s, {closed / dt / 1e6:.1f} MB/s of input, "
              f"{rep['records_cleaned']} records removed, {rep['segments_cleaned']} segments rewritten, "
              f"{after / 1e6:.1f} MB left")
        print(f"peak RSS: {rss0 / 1024:.0f} MB before, {rss1 / 1024:.0f} MB after compaction")
        t0 = time.perf_counter()
        log.maintain()
        print(f"second run (nothing dirty): {time.perf_counter() - t0:.3f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
