"""Committed-offset store latency: FileOffsetStore.commit of 4 partitions and committed()
of them, with and without fsync (the figure that replaced the timed assertion
tests/test_offsets.py::test_commit_is_fast: speed is measured here, never asserted in tests).
Prints the median of --commits calls in ms. No assertions: this measures, it does not judge.

    python bench/offsets.py [--commits 200] [--dir /tmp/x]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from eventlog.offsets import FileOffsetStore  # noqa: E402
from eventlog.record import TopicPartition  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=200)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="el-bench-offsets-", dir=args.dir)
    try:
        tps = [TopicPartition("orders", p) for p in range(4)]
        for fsync in (False, True):
            s = FileOffsetStore(os.path.join(root, str(fsync)), fsync=fsync)
            commits, reads = [], []
            for i in range(args.commits):
                t0 = time.perf_counter()
                s.commit("g", {tp: i for tp in tps})
                commits.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                s.committed("g", tps)
                reads.append(time.perf_counter() - t0)
            print(f"fsync={fsync!s:5}  commit(4 partitions) {statistics.median(commits) * 1000:7.3f} ms   "
                  f"committed(4 partitions) {statistics.median(reads) * 1000:7.3f} ms   (median of {args.commits})")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
