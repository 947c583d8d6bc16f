"""Storage-layer throughput: Partition.append_batch, reading back (consumer-style
FetchState + Partition.fetch, and Partition.read), and single-record Partition.append.

100-byte values (hex text, so zstd has something to do, as with typical payloads), no keys,
batches of 100 and 1000 records, compression "none" and "zstd". Page cache warm (the data
was just written); no fsync. Prints records/s and MB/s of value bytes (the median of
--repeat runs). No assertions: this measures, it does not judge.

    python bench/storage.py [--records 1000000] [--single 20000] [--repeat 1] [--dir /tmp/x]
"""
import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import eventlog  # noqa: E402
from eventlog.storage.reader import FetchState  # noqa: E402

VALUE_SIZE = 100


def make_values(n, pool=4096):
    vals = [os.urandom(VALUE_SIZE // 2).hex().encode() for _ in range(min(n, pool))]
    return [vals[i % len(vals)] for i in range(n)]


def dir_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            if f.endswith(".log"):
                total += os.path.getsize(os.path.join(root, f))
    return total


def fmt(n, secs):
    rps = n / secs
    return f"{rps:>12,.0f} rec/s {rps * VALUE_SIZE / 1e6:>8.1f} MB/s"


def bench_batches(base, n, batch, compression, repeat):
    w, rf, rr = [], [], []
    disk = 0
    for r in range(repeat):
        values = make_values(n)
        batches = [[(None, v) for v in values[i:i + batch]] for i in range(0, n, batch)]
        d = os.path.join(base, f"b{batch}-{compression}-{r}")
        log = eventlog.open(d)
        part = log.create_topic("t", compression=compression).partition(0)
        t0 = time.perf_counter()
        for b in batches:
            part.append_batch(b)
        w.append(time.perf_counter() - t0)
        disk = dir_bytes(d)
        # the input is dropped before reading: a million live tuples would make every
        # garbage collection during the reads slower, which is not what a reader pays
        del values, batches
        gc.collect()

        # consumer-style: one FetchState moved along the log
        st = FetchState(0)
        got = 0
        t0 = time.perf_counter()
        while True:
            recs = part.fetch(st, 10_000)
            if not recs:
                break
            got += len(recs)
        rf.append(time.perf_counter() - t0)
        assert got == n, (got, n)

        # Partition.read from an offset (locates the offset through the index each call)
        off = got = 0
        t0 = time.perf_counter()
        while True:
            recs = part.read(off, max_records=10_000)
            if not recs:
                break
            got += len(recs)
            off = recs[-1].offset + 1
        rr.append(time.perf_counter() - t0)
        assert got == n
        log.close()
        shutil.rmtree(d, ignore_errors=True)
    med = statistics.median
    label = f"batch={batch:<5d} {compression:<4s}"
    print(f"append_batch  {label} {fmt(n, med(w))}   ({disk / n:.1f} bytes/record on disk)")
    print(f"fetch         {label} {fmt(n, med(rf))}")
    print(f"read          {label} {fmt(n, med(rr))}")


def bench_single(base, n, compression, repeat):
    values = make_values(n)
    times = []
    for r in range(repeat):
        d = os.path.join(base, f"single-{compression}-{r}")
        log = eventlog.open(d)
        part = log.create_topic("t", compression=compression).partition(0)
        append = part.append
        t0 = time.perf_counter()
        for v in values:
            append(v)
        times.append(time.perf_counter() - t0)
        log.close()
        shutil.rmtree(d, ignore_errors=True)
    sec = statistics.median(times)
    print(f"append (1 record per call) {compression:<4s}  {fmt(n, sec)}   ({sec / n * 1e6:.1f} us/record)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000, help="records per batched case")
    ap.add_argument("--single", type=int, default=20_000, help="records for the single-append case")
    ap.add_argument("--repeat", type=int, default=1, help="runs per case (the median is printed)")
    ap.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="eventlog-bench-storage-", dir=args.dir)
    try:
        print(f"storage: {args.records:,} records of {VALUE_SIZE}-byte values per case, "
              f"median of {args.repeat}; MB/s counts value bytes")
        for compression in ("none", "zstd"):
            for batch in (100, 1000):
                bench_batches(base, args.records, batch, compression, args.repeat)
        for compression in ("none", "zstd"):
            bench_single(base, args.single, compression, args.repeat)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
