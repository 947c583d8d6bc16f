"""Wake-up latency of DirWatcher: another process's append -> the waiting reader runs.

A child process appends 16-byte records (time.time_ns(), sequence number) to a segment file
with os.pwrite at a fixed rate; the parent sleeps in DirWatcher.wait, and on each wake-up
reads the new bytes. Latency of a record = wall clock right after `wait` returned minus the
timestamp the writer put in it just before its pwrite. A record written after the wake-up
(timestamp later than the wake) is left for the next wake-up, whose clock it is measured by.

Also reported: the parent's CPU use over the run (process_time / wall time, which includes
reading and parsing the records) and while idle (a wait with no writer).

    python bench/latency_wakeup.py [--rate 200] [--duration 3] [--backend inotify|poll]
"""
import argparse
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from eventlog._os.wakeup import DirWatcher  # noqa: E402

REC = struct.Struct("<QQ")


def writer(path: str, rate: float, count: int, start_delay: float) -> None:
    fd = os.open(path, os.O_WRONLY)
    time.sleep(start_delay)
    t0 = time.monotonic()
    for i in range(count):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        os.pwrite(fd, REC.pack(time.time_ns(), i), i * REC.size)
    os.close(fd)


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, round(p / 100 * (len(sorted_vals) - 1))))
    return sorted_vals[k]


def run(rate: float, duration: float, backend: str | None) -> dict:
    count = int(rate * duration)
    with tempfile.TemporaryDirectory(prefix="wakeup-bench-") as d, DirWatcher(backend) as w:
        seg = os.path.join(d, f"{0:020d}.log")
        open(seg, "wb").close()
        w.watch(d)

        # Idle CPU: nothing writes during this wait.
        cpu0, t0 = time.process_time(), time.monotonic()
        w.wait(1.0)
        idle_cpu = (time.process_time() - cpu0) / (time.monotonic() - t0)

        child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", seg,
                                  str(rate), str(count), "0.3"])
        lat_ns, pos, seen, wakes, spurious = [], 0, 0, 0, 0
        rfd = os.open(seg, os.O_RDONLY)
        try:
            cpu0, t0 = time.process_time(), time.monotonic()
            deadline = t0 + duration + 30
            while seen < count and time.monotonic() < deadline:
                if not w.wait(1.0):
                    continue
                now = time.time_ns()
                wakes += 1
                data = os.pread(rfd, 1 << 20, pos)
                got = 0
                for off in range(0, len(data) - len(data) % REC.size, REC.size):
                    ts, seq = REC.unpack_from(data, off)
                    if ts > now:      # written after this wake-up: the next one measures it
                        break
                    lat_ns.append(now - ts)
                    got += 1
                if got == 0:
                    spurious += 1
                pos += got * REC.size
                seen += got
            wall = time.monotonic() - t0
            run_cpu = (time.process_time() - cpu0) / wall
        finally:
            os.close(rfd)
            child.wait(timeout=60)
    lat_ms = sorted(x / 1e6 for x in lat_ns)
    return {
        "backend": w.backend, "records": count, "received": seen, "wakes": wakes,
        "wakes_without_new_record": spurious,
        "p50_ms": pct(lat_ms, 50), "p99_ms": pct(lat_ms, 99), "p999_ms": pct(lat_ms, 99.9),
        "max_ms": lat_ms[-1] if lat_ms else float("nan"),
        "mean_ms": statistics.fmean(lat_ms) if lat_ms else float("nan"),
        "cpu_pct_during_run": 100 * run_cpu, "cpu_pct_idle": 100 * idle_cpu,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=200.0, help="records per second")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds of writing")
    ap.add_argument("--backend", choices=["auto", "inotify", "poll"], default=None)
    ap.add_argument("--child", nargs=4, metavar=("PATH", "RATE", "COUNT", "DELAY"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        path, rate, count, delay = args.child
        writer(path, float(rate), int(count), float(delay))
        return
    r = run(args.rate, args.duration, args.backend)
    print(f"backend={r['backend']} rate={args.rate:g}/s records={r['records']} "
          f"received={r['received']} wakes={r['wakes']} "
          f"(without a new record: {r['wakes_without_new_record']})")
    print(f"wake latency ms: p50={r['p50_ms']:.3f} p99={r['p99_ms']:.3f} "
          f"p999={r['p999_ms']:.3f} max={r['max_ms']:.3f} mean={r['mean_ms']:.3f}")
    print(f"parent CPU: {r['cpu_pct_during_run']:.2f}% of a core during the run, "
          f"{r['cpu_pct_idle']:.3f}% idle")


if __name__ == "__main__":
    main()
