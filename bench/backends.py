"""eventlog on a directory vs eventlog on a Kafka broker vs plain confluent-kafka on the same
broker, in one run: send rec/s (send + flush), poll rec/s (replay from the beginning), and
append-to-poll latency p50/p99 (one record at a time, a consumer waiting at the end).

    python bench/backends.py --bootstrap 127.0.0.1:9092 [--records 200000] [--size 100]

Without --bootstrap it starts a broker with tests/kafka_broker.py. Plain confluent-kafka uses
the same settings as the back end (acks=all, idempotence, linger 5 ms, explicit murmur2
partitions for 8-byte keys, a delivery callback per record, batch consume).
"""
import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import eventlog  # noqa: E402
from eventlog.clients.partitioners import kafka_partition  # noqa: E402

PARTS = 4


def workload(n, size):
    keys = [b"%08d" % (i % 10_000) for i in range(n)]
    value = b"x" * size
    return keys, value


def bench_eventlog(log, n, size, lat_n):
    topic = "bench-" + uuid.uuid4().hex[:8]
    log.create_topic(topic, partitions=PARTS)
    keys, value = workload(n, size)
    with log.producer(linger_ms=5) as p:
        t = time.perf_counter()
        send = p.send
        for k in keys:
            send(topic, value, k)
        p.flush()
        send_s = time.perf_counter() - t
    with log.consumer(auto_offset_reset="earliest", max_poll_records=5000) as c:
        c.assign([eventlog.TopicPartition(topic, i) for i in range(PARTS)])
        got = 0
        t = time.perf_counter()
        while got < n:
            got += len(c.poll(timeout=1.0))
        poll_s = time.perf_counter() - t
    lat = latency(log, topic, lat_n)
    return n / send_s, n / poll_s, lat


def latency(log, topic, m):
    out = []
    with log.consumer(auto_offset_reset="latest") as c, log.producer(linger_ms=0) as p:
        c.assign([eventlog.TopicPartition(topic, 0)])
        c.position(eventlog.TopicPartition(topic, 0))
        for i in range(m):
            t = time.perf_counter()
            p.send(topic, b"l", partition=0)
            while not c.poll(timeout=1.0, max_records=1):
                pass
            out.append(time.perf_counter() - t)
    return pct(out)


def pct(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] * 1000, xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1000


def bench_plain(bootstrap, n, size, lat_n):
    import confluent_kafka as ck
    from confluent_kafka.admin import AdminClient, NewTopic
    topic = "bench-plain-" + uuid.uuid4().hex[:8]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, PARTS)]).values():
        f.result()
    while len(admin.list_topics(topic).topics[topic].partitions) < PARTS:
        time.sleep(0.05)
    keys, value = workload(n, size)
    p = ck.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all", "enable.idempotence": True})
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
    stop = False

    def poller():
        while not stop:
            p.poll(0.05)
    th = threading.Thread(target=poller, daemon=True)
    th.start()
    t = time.perf_counter()
    produce = p.produce
    for k in keys:
        while True:
            try:
                produce(topic, value, k, partition=kafka_partition(k, PARTS), on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.01)
    p.flush()
    send_s = time.perf_counter() - t
    stop = True
    th.join()
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-" + uuid.uuid4().hex,
                     "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([ck.TopicPartition(topic, i, 0) for i in range(PARTS)])
    got = 0
    t = time.perf_counter()
    while got < n:
        msgs = c.consume(5000, 0)
        if not msgs:
            m = c.poll(1.0)
            msgs = [m] if m is not None else []
        for m in msgs:   # what an application reads of each record (eventlog builds a Record of all)
            m.key(), m.value(), m.offset()
        got += len(msgs)
    poll_s = time.perf_counter() - t
    out = []
    c.assign([ck.TopicPartition(topic, 0, ck.OFFSET_END)])
    while c.poll(0.2) is not None:
        pass
    p0 = ck.Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all", "enable.idempotence": True})
    for i in range(lat_n):
        t = time.perf_counter()
        p0.produce(topic, b"l", partition=0)
        p0.poll(0)
        while c.poll(1.0) is None:
            pass
        out.append(time.perf_counter() - t)
    p0.flush()
    c.close()
    return n / send_s, n / poll_s, pct(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap")
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--latency-records", type=int, default=300)
    ap.add_argument("--runs", type=int, default=1, help="median of this many runs per system")
    a = ap.parse_args()
    broker = None
    bootstrap = a.bootstrap
    if bootstrap is None:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
        import kafka_broker
        broker = kafka_broker.Broker.start(tempfile.mkdtemp(prefix="bench-kafka-"))
        bootstrap = broker.bootstrap
    rows = []
    try:
        def med(fn):
            rs = [fn() for _ in range(a.runs)]
            return (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs),
                    (statistics.median(r[2][0] for r in rs), statistics.median(r[2][1] for r in rs)))
        with tempfile.TemporaryDirectory() as d:
            with eventlog.open(d) as log:
                rows.append(("eventlog, directory", med(lambda: bench_eventlog(log, a.records, a.size, a.latency_records))))
        with eventlog.open(f"kafka://{bootstrap}") as log:
            rows.append(("eventlog, kafka://", med(lambda: bench_eventlog(log, a.records, a.size, a.latency_records))))
        rows.append(("confluent-kafka, same broker", med(lambda: bench_plain(bootstrap, a.records, a.size, a.latency_records))))
    finally:
        if broker is not None:
            broker.stop()
    print(f"{a.records:,} records of {a.size} B, 8-byte keys, {PARTS} partitions; latency over "
          f"{a.latency_records} single records")
    print(f"| system | send rec/s | poll rec/s | append->poll p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for name, (s, p, (l50, l99)) in rows:
        print(f"| {name} | {s:,.0f} | {p:,.0f} | {l50:.2f} | {l99:.2f} |")
    (_, (ks, kp, _)), (_, (cs, cp, _)) = rows[1], rows[2]
    print(f"kafka back end vs plain confluent-kafka: send {ks / cs:.2f}x, poll {kp / cp:.2f}x "
          f"(overhead {max(0, 1 - ks / cs) * 100:.0f}% / {max(0, 1 - kp / cp) * 100:.0f}%)")


if __name__ == "__main__":
    main()
