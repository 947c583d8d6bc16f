"""The cost of a typical Kafka-application test: create a topic (3 partitions), produce 1,000
keyed records and flush, consume all of them in a consumer group (subscribe, poll), commit,
close. Timed end to end, for each client library:

- the eventlog facade (`eventlog.compat.kafka` / `eventlog.compat.confluent_kafka`) on a
  fresh log directory (opening the log is included);
- the real client (kafka-python / confluent-kafka) on librdkafka's in-process mock cluster
  (started once, not timed; its start-up is printed separately). The mock is the cheapest
  real Kafka protocol peer there is: a broker in a container costs 10-20 s to start on top.

Prints the median of --repeat runs in ms, and facade/real ratios. Real clients that are not
installed (pip install 'eventlog[compat-test]') are reported as such.

    python bench/compat.py [--records 1000] [--repeat 5]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir))
sys.path.insert(0, os.path.join(HERE, os.pardir, "tests", "compat"))
warnings.simplefilter("ignore", DeprecationWarning)

import eventlog  # noqa: E402
from eventlog.compat import confluent_kafka as fck  # noqa: E402
from eventlog.compat import kafka as fkp  # noqa: E402

PARTITIONS = 3


def kafka_python_test(kafka, bootstrap, topic, group, n, extra):
    p = kafka.KafkaProducer(bootstrap_servers=bootstrap, **extra)
    for i in range(n):
        p.send(topic, b"order-%d" % i, key=b"customer-%d" % (i % 50))
    p.flush()
    p.close()
    c = kafka.KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                            enable_auto_commit=False, session_timeout_ms=6000, **extra)
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 60
    while got < n and time.monotonic() < deadline:
        for recs in c.poll(timeout_ms=100).values():
            got += len(recs)
    c.commit()
    c.close()
    assert got == n, (got, n)


def confluent_test(ck, bootstrap, topic, group, n, extra):
    p = ck.Producer({"bootstrap.servers": bootstrap})
    for i in range(n):
        p.produce(topic, b"order-%d" % i, key=b"customer-%d" % (i % 50))
    assert p.flush(30) == 0
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "session.timeout.ms": 6000})
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 60
    while got < n and time.monotonic() < deadline:
        for m in c.consume(num_messages=500, timeout=0.1):
            if m.error() is None:
                got += 1
    c.commit(asynchronous=False)
    c.close()
    assert got == n, (got, n)


def time_facade(fn, module, n, base, i):
    d = os.path.join(base, f"{fn.__name__}-{i}")
    t0 = time.perf_counter()
    log = eventlog.open(d)
    log.create_topic("orders", partitions=PARTITIONS)
    fn(module, f"eventlog://{d}", "orders", "billing", n, {})
    log.close()
    return time.perf_counter() - t0


def time_real(fn, module, mock, n, i, extra):
    topic, group = f"orders-{fn.__name__}-{i}", f"billing-{fn.__name__}-{i}"
    t0 = time.perf_counter()
    mock.create_topic(topic, PARTITIONS)
    fn(module, mock.bootstrap, topic, group, n, extra)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5, help="runs per case (the median is printed)")
    ap.add_argument("--dir", default=None, help="where the facade's logs go (default: a temp dir)")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="eventlog-bench-compat-", dir=args.dir)
    n = args.records

    import _mock
    try:
        import kafka as real_kafka
    except ImportError:
        real_kafka = None
    try:
        import confluent_kafka as real_ck
    except ImportError:
        real_ck = None
    t0 = time.perf_counter()
    mock = _mock.MockCluster.start() if real_ck is not None else None
    mock_start = time.perf_counter() - t0

    cases = [("kafka-python", kafka_python_test, fkp, real_kafka, {"api_version": (2, 3)}),
             ("confluent-kafka", confluent_test, fck, real_ck, {})]
    print(f"typical test: create topic ({PARTITIONS} partitions), produce {n} keyed records, "
          f"consume them in a group, commit; median of {args.repeat} runs")
    if mock is not None:
        print(f"librdkafka mock cluster start-up: {mock_start * 1000:.1f} ms (once per session)")
    print(f"{'client':<16} {'eventlog facade':>16} {'real client on mock':>20} {'real / facade':>14}")
    try:
        for name, fn, facade, real, extra in cases:
            f_times = [time_facade(fn, facade, n, base, i) for i in range(args.repeat)]
            f = statistics.median(f_times)
            if real is None or mock is None:
                why = "not installed" if real is None else "no mock cluster"
                print(f"{name:<16} {f * 1000:>13.1f} ms {why:>20} {'-':>14}")
                continue
            r_times = [time_real(fn, real, mock, n, i, extra) for i in range(args.repeat)]
            r = statistics.median(r_times)
            print(f"{name:<16} {f * 1000:>13.1f} ms {r * 1000:>17.1f} ms {r / f:>13.1f}x")
    finally:
        if mock is not None:
            mock.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
