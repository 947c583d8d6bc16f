"""pytest glue for the real Kafka broker of tests/kafka_broker.py: the `kafka` marker and the
session-scoped `kafka_bootstrap` fixture ("127.0.0.1:PORT").

Rules it keeps:
- One broker per test session, started on first use and stopped at the session's end, even when
  tests fail or the run is interrupted (fixture finalizer; the JVM also dies with pytest).
- `EVENTLOG_TEST_KAFKA=host:port` uses that running broker instead (it must answer, or the
  tests using it fail: the user asked for it).
- Without Java (or without Maven and cached jars) the tests skip, naming what is missing;
  with `EVENTLOG_REQUIRE_KAFKA=1` (CI) they fail instead, so CI can never pass by skipping them.
- Every test that uses the fixture carries the `kafka` marker, so `-m "not kafka"` leaves them out.
"""
import os

import pytest

import kafka_broker

_timings = {}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "kafka_bootstrap" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory):
    """The bootstrap address of a real Kafka 4.x broker on 127.0.0.1, for the whole session."""
    reuse = os.environ.get(kafka_broker.ENV_REUSE)
    if reuse:
        if not kafka_broker.answers(reuse, timeout=10):
            pytest.fail(f"{kafka_broker.ENV_REUSE}={reuse}: no Kafka broker answers there")
        yield reuse
        return
    why = kafka_broker.unavailable()
    if why:
        if os.environ.get("EVENTLOG_REQUIRE_KAFKA") == "1":
            pytest.fail(f"EVENTLOG_REQUIRE_KAFKA=1 but {why}")
        pytest.skip(why)
    try:
        broker = kafka_broker.Broker.start(tmp_path_factory.mktemp("kafka-broker"))
    except kafka_broker.BrokerError as e:
        pytest.fail(str(e))
    _timings.update(broker.timings)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def pytest_terminal_summary(terminalreporter):
    if _timings:
        terminalreporter.write_line(
            "kafka broker: " + ", ".join(f"{k[:-2]} {v:.1f} s" for k, v in _timings.items()))
