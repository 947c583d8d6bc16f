"""Producer throughput: records/s through `Producer.send`, timed from the first send until
`flush()` has returned (every record is in the log).

100-byte values; keyed cases use 8-byte keys from a pool of 1000 (keys repeat, as user ids
do; placement is Kafka's murmur2), unkeyed cases use sticky partitioning. 1 and 4
partitions, compression "none" and "zstd", linger_ms=5 (batch_size 16384, the defaults),
and linger_ms=0 (each record written on its own, so fewer records are sent). No fsync.
With --replay, also how fast `Consumer.poll(max_records=10000)` reads back a topic the
producer wrote at default settings (4 partitions, keyed): the on-disk batches are the
producer's merged batches, so this shows what their size costs readers.

Values come from a pool of 4096 (they stay in the CPU's caches); with --unique every record
has its own value, made before the timing starts, as in ../shared/bench/compare.sh (the
producer then touches each value's bytes for the first time, as applications with fresh
data do: slower, and closer to what users see).

    python bench/producer.py [--records 1000000] [--linger0-records 20000] [--repeat 1] [--replay] [--unique]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import eventlog  # noqa: E402

VALUE_SIZE = 100


def make_values(n, unique):
    """n values of VALUE_SIZE bytes: from a pool of 4096, or each its own (`unique`)."""
    if unique:
        blob = os.urandom(VALUE_SIZE * n)
        return [blob[i:i + VALUE_SIZE] for i in range(0, VALUE_SIZE * n, VALUE_SIZE)]
    vals = [os.urandom(VALUE_SIZE // 2).hex().encode() for _ in range(4096)]
    return [vals[i % 4096] for i in range(n)]


def run_case(base, name, n, partitions, keyed, compression, linger_ms, repeat, unique=False):
    values = make_values(n, unique)
    keys = [b"user%04d" % (i % 1000) for i in range(n)] if keyed else None
    times = []
    for r in range(repeat):
        d = tempfile.mkdtemp(dir=base)
        log = eventlog.open(d)
        topic = log.create_topic("t", partitions=partitions, compression=compression)
        p = log.producer(linger_ms=linger_ms)
        send = p.send
        if keyed:
            t0 = time.perf_counter()
            for k, v in zip(keys, values):
                send("t", v, k)
            p.flush()
        else:
            t0 = time.perf_counter()
            for v in values:
                send("t", v)
            p.flush()
        times.append(time.perf_counter() - t0)
        p.close()
        total = sum(part.end_offset for part in topic.partitions)
        assert total == n, (total, n)
        log.close()
        shutil.rmtree(d, ignore_errors=True)
    sec = statistics.median(times)
    rps = n / sec
    print(f"{name:<40s} {n:>10,d} rec {rps:>12,.0f} rec/s {rps * VALUE_SIZE / 1e6:>8.1f} MB/s")
    return rps


def run_replay(base, n, repeat, unique=False):
    """Produce n keyed records to 4 partitions at default settings, then time polling them
    all back from the start (median of `repeat`)."""
    values = make_values(n, unique)
    times = []
    for r in range(repeat):
        d = tempfile.mkdtemp(dir=base)
        with eventlog.open(d) as log:
            log.create_topic("t", partitions=4)
            with log.producer() as p:
                for i in range(n):
                    p.send("t", values[i], b"user%04d" % (i % 1000))
        with eventlog.open(d) as log:
            batches = sum(part.check().batches for part in log.topic("t").partitions)
            c = log.consumer(group_id=None, auto_offset_reset="earliest")
            c.assign([eventlog.TopicPartition("t", i) for i in range(4)])
            got = 0
            t0 = time.perf_counter()
            while got < n:
                got += len(c.poll(timeout=1.0, max_records=10000))
            times.append(time.perf_counter() - t0)
            c.close()
        shutil.rmtree(d, ignore_errors=True)
    rps = n / statistics.median(times)
    print(f"{'replay of producer-written p=4 keyed':<40s} {n:>10,d} rec {rps:>12,.0f} rec/s "
          f"{rps * VALUE_SIZE / 1e6:>8.1f} MB/s  ({batches} on-disk batches)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000, help="records per linger_ms=5 case")
    ap.add_argument("--linger0-records", type=int, default=20_000, help="records per linger_ms=0 case")
    ap.add_argument("--repeat", type=int, default=1, help="runs per case (the median is printed)")
    ap.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    ap.add_argument("--replay", action="store_true", help="also time polling back a producer-written topic")
    ap.add_argument("--only", default=None, help="run only the cases whose name contains this text")
    ap.add_argument("--unique", action="store_true", help="a value of its own per record (compare.sh's workload)")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="eventlog-bench-producer-", dir=args.dir)
    try:
        print(f"producer.send -> flush, {VALUE_SIZE}-byte values ({'unique' if args.unique else 'a pool of 4096'}), "
              f"median of {args.repeat}; MB/s counts value bytes")
        for linger, n in ((5, args.records), (0, args.linger0_records)):
            for compression in ("none", "zstd"):
                for partitions in (1, 4):
                    for keyed in (False, True):
                        name = (f"linger_ms={linger} p={partitions} {'keyed' if keyed else 'unkeyed':<7s} "
                                f"{compression}")
                        if args.only is None or args.only in name:
                            run_case(base, name, n, partitions, keyed, compression, linger, args.repeat,
                                     args.unique)
        if args.replay:
            run_replay(base, args.records, args.repeat, args.unique)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
