"""`eventlog perf produce` and `eventlog perf consume`: throughput and latency, reported as
Kafka's kafka-producer-perf-test / kafka-consumer-perf-test do.

produce: one producer `send`s --records values of --size random bytes (optionally with keys)
as fast as it can; latency is send() -> record written, measured on a sample of at most
50,000 records (a done-callback each), as Kafka's tool samples. Time includes the final
flush. consume: one consumer reads the topic from the beginning with `poll`; latency is the
time of each poll call that returned records. MB is 2**20 bytes of keys + values.
"""
import itertools
import os
import time
from operator import itemgetter

from eventlog.cli import util as u
from eventlog.errors import TopicExistsError, UnknownTopicError
from eventlog.record import TopicPartition

_SAMPLES = 50_000
_MB = 1024 * 1024


def _latency_doc(lat_ms):
    lat_ms.sort()
    n = len(lat_ms)
    return {"samples": n, "avg": (sum(lat_ms) / n) if n else 0.0, "max": lat_ms[-1] if n else 0.0,
            "p50": u.percentile(lat_ms, 50), "p95": u.percentile(lat_ms, 95),
            "p99": u.percentile(lat_ms, 99), "p999": u.percentile(lat_ms, 99.9)}


def _lat_text(lat):
    return (f"{lat['avg']:.2f} ms avg latency, {lat['max']:.2f} ms max latency, {lat['p50']:.2f} ms 50th, "
            f"{lat['p95']:.2f} ms 95th, {lat['p99']:.2f} ms 99th, {lat['p999']:.2f} ms 99.9th")


def cmd_produce(ctx, args):
    log = ctx.log(create=True)
    try:
        t = log.topic(args.topic)
    except UnknownTopicError:
        settings = {"compression": args.compression} if args.compression else {}
        try:
            t = log.create_topic(args.topic, partitions=args.partitions, **settings)
            ctx.note(f"created topic {args.topic} with {u.plural(args.partitions, 'partition')}")
        except TopicExistsError:
            t = log.topic(args.topic)
    n = args.records
    size = args.size
    value = os.urandom(size)
    keys = [f"key-{i}".encode() for i in range(args.keys)] if args.keys else None
    producer = log.producer(linger_ms=args.linger_ms, batch_size=args.batch_size, fsync=args.fsync)
    stride = max(1, n // _SAMPLES)
    lat = []
    errors = []
    clock = time.perf_counter

    def sampled(t0):
        def done(fut):
            lat.append((clock() - t0) * 1000.0)
            if fut.exception() is not None and len(errors) < 5:
                errors.append(fut.exception())
        return done

    send = producer.send
    topic = t.name
    key_cycle = itertools.cycle(keys) if keys else None
    prog = u.Progress(f"producing to {topic}", total=n, unit="records")
    start = clock()
    sent = 0
    last = None
    try:
        while sent < n:
            chunk = min(n - sent, stride * 64)
            for i in range(sent, sent + chunk):
                k = next(key_cycle) if key_cycle is not None else None
                if i % stride == 0:
                    t0 = clock()
                    last = send(topic, value, k)
                    last.add_done_callback(sampled(t0))
                else:
                    last = send(topic, value, k)
            sent += chunk
            prog.update(chunk)
        producer.flush()
        elapsed = clock() - start
    finally:
        prog.close()
        producer.close()
    if last is not None and last.exception() is not None:
        errors.append(last.exception())
    if errors:
        raise u.CliError(f"producing failed: {errors[0]}")
    nbytes = n * (size + (len(keys[0]) if keys else 0))
    latd = _latency_doc(lat)
    doc = {"topic": topic, "records": n, "record_size": size, "bytes": nbytes, "seconds": round(elapsed, 6),
           "records_per_sec": n / elapsed, "mb_per_sec": nbytes / _MB / elapsed, "latency_ms": latd}
    if ctx.json:
        u.print_json(doc)
    else:
        ctx.out.write(f"{n} records sent, {doc['records_per_sec']:.1f} records/sec "
                      f"({doc['mb_per_sec']:.2f} MB/sec), {_lat_text(latd)}.\n")
    return 0


def cmd_consume(ctx, args):
    t = ctx.topic(args.topic)
    log = ctx.log()
    tps = [TopicPartition(t.name, p) for p in range(t.config.partitions)]
    available = sum(p.end_offset - p.start_offset for p in t.partitions)
    want = args.records if args.records is not None else available
    if want == 0:
        raise u.CliError(f"topic {t.name!r} is empty: run 'eventlog perf produce --topic {t.name}' first")
    c = log.consumer(group_id=None, auto_offset_reset="earliest", enable_auto_commit=False,
                     max_poll_records=args.max_poll_records)
    c.assign(tps)
    c.seek_to_beginning()
    clock = time.perf_counter
    got = 0
    nbytes = 0
    lat = []
    value_of = itemgetter(5)
    key_of = itemgetter(4)
    prog = u.Progress(f"consuming {t.name}", total=want, unit="records")
    start = clock()
    idle_since = clock()
    try:
        while got < want:
            t0 = clock()
            recs = c.poll(timeout=0.2, max_records=min(args.max_poll_records, want - got))
            t1 = clock()
            if not recs:
                if t1 - idle_since > args.timeout:
                    ctx.warn(f"no records for {args.timeout:g}s: stopping after {got} of {want}")
                    break
                continue
            idle_since = t1
            lat.append((t1 - t0) * 1000.0)
            got += len(recs)
            nbytes += sum(map(len, filter(None, map(value_of, recs)))) + sum(map(len, filter(None, map(key_of, recs))))
            prog.update(len(recs))
        elapsed = clock() - start
    finally:
        prog.close()
        c.close(autocommit=False)
    elapsed = max(elapsed, 1e-9)
    latd = _latency_doc(lat)
    doc = {"topic": t.name, "records": got, "bytes": nbytes, "seconds": round(elapsed, 6),
           "records_per_sec": got / elapsed, "mb_per_sec": nbytes / _MB / elapsed, "poll_latency_ms": latd}
    if ctx.json:
        u.print_json(doc)
    else:
        ctx.out.write(f"{got} records consumed, {doc['records_per_sec']:.1f} records/sec "
                      f"({doc['mb_per_sec']:.2f} MB/sec), {nbytes / _MB:.2f} MB in {elapsed:.3f} s; "
                      f"poll latency: {_lat_text(latd).replace(' latency', '')}.\n")
    return 0 if got >= want else 1
