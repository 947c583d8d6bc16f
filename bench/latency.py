"""Append-to-poll latency across processes, and the idle consumer's CPU use.

This process appends one record at a time at a fixed rate (default 500/s for 5 s) with
`Partition.append` (or, with --via producer, `Producer.send(linger_ms=0)` and waiting for
each future); each value holds time.time_ns() taken just before the append. A consumer in
a spawned process sits in `poll(timeout=1.0)`; when poll returns it reads the clock once
and records, for every record returned, that time minus the one in the value. Printed:
p50 / p99 / p99.9 / max in ms.

Before the writer starts, the consumer measures its idle cost: CPU time
(time.process_time) over 2 s of poll(timeout=2.0) with no data, as a % of one core.

    python bench/latency.py [--rate 500] [--duration 5] [--via partition|producer] [--records N]
"""
import argparse
import multiprocessing
import os
import shutil
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import eventlog  # noqa: E402
from eventlog import TopicPartition  # noqa: E402

STAMP = struct.Struct("<qq")  # time.time_ns() at append, sequence number (-1: stop)
PAD = b"." * (100 - STAMP.size)


def consumer_proc(path, idle_s, ready, results):
    log = eventlog.open(path)
    c = log.consumer(auto_offset_reset="latest", enable_auto_commit=False)
    c.assign([TopicPartition("lat", 0)])
    c.position(TopicPartition("lat", 0))  # resolve "latest" now, before the writer starts
    c.poll(timeout=0)
    # idle: nothing is written while we wait
    cpu0, t0 = time.process_time(), time.monotonic()
    got = c.poll(timeout=idle_s)
    idle_cpu = (time.process_time() - cpu0) / (time.monotonic() - t0)
    assert got == [], "data arrived during the idle measurement"
    ready.set()
    lat_ns = []
    seqs = 0
    cpu0, t0 = time.process_time(), time.monotonic()
    done = False
    while not done:
        recs = c.poll(timeout=1.0)
        now = time.time_ns()
        for r in recs:
            ts, seq = STAMP.unpack_from(r.value)
            if seq < 0:
                done = True
                break
            lat_ns.append(now - ts)
            seqs += 1
    busy_cpu = (time.process_time() - cpu0) / (time.monotonic() - t0)
    c.close()
    log.close()
    results.put((idle_cpu, busy_cpu, lat_ns))


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=500.0, help="records per second")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds of writing")
    ap.add_argument("--records", type=int, default=None, help="records to write (default rate x duration)")
    ap.add_argument("--via", choices=("partition", "producer"), default="partition")
    ap.add_argument("--idle", type=float, default=2.0, help="seconds of idle poll to measure CPU")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    n = args.records if args.records is not None else int(args.rate * args.duration)
    base = tempfile.mkdtemp(prefix="eventlog-bench-latency-", dir=args.dir)
    try:
        path = os.path.join(base, "data")
        log = eventlog.open(path)
        part = log.create_topic("lat").partition(0)
        part.append(STAMP.pack(0, 0) + PAD)  # the partition exists and has a segment
        ctx = multiprocessing.get_context("spawn")
        ready, results = ctx.Event(), ctx.Queue()
        proc = ctx.Process(target=consumer_proc, args=(path, args.idle, ready, results))
        proc.start()
        if not ready.wait(60 + args.idle):
            raise SystemExit("the consumer process did not start")
        time.sleep(0.05)  # let it settle into poll
        producer = log.producer(linger_ms=0) if args.via == "producer" else None
        t0 = time.monotonic()
        for i in range(n):
            delay = t0 + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            value = STAMP.pack(time.time_ns(), i) + PAD
            if producer is None:
                part.append(value)
            else:
                producer.send("lat", value).result(timeout=10)
        wrote = time.monotonic() - t0
        stop = STAMP.pack(time.time_ns(), -1) + PAD
        part.append(stop) if producer is None else producer.send("lat", stop).result(timeout=10)
        idle_cpu, busy_cpu, lat_ns = results.get(timeout=60)
        proc.join(30)
        if producer is not None:
            producer.close()
        log.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    lat = sorted(x / 1e6 for x in lat_ns)
    how = "Partition.append" if args.via == "partition" else "Producer.send(linger_ms=0)"
    print(f"append-to-poll latency, {len(lat):,} records at {n / wrote:,.0f}/s by {how} "
          f"in another process:")
    print(f"  p50 {pct(lat, 50):.3f} ms   p99 {pct(lat, 99):.3f} ms   p99.9 {pct(lat, 99.9):.3f} ms   "
          f"max {lat[-1] if lat else float('nan'):.3f} ms")
    print(f"consumer CPU: idle {idle_cpu * 100:.2f}% of a core over {args.idle:g} s of poll(timeout); "
          f"{busy_cpu * 100:.1f}% while receiving")


if __name__ == "__main__":
    main()
