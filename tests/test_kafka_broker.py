"""The real-broker test fixture itself (tests/kafka_broker.py): it binds to 127.0.0.1 only,
answers, stops its JVM, and leaves no JVM behind when the process that started it is killed."""
import os
import signal
import subprocess
import sys
import time

import pytest

import kafka_broker

HERE = os.path.dirname(os.path.abspath(__file__))


def _gone(pid, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    return True   # exited, not yet reaped by its parent
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def _need_broker():
    why = kafka_broker.unavailable()
    if why and os.environ.get("EVENTLOG_REQUIRE_KAFKA") == "1":
        pytest.fail(f"EVENTLOG_REQUIRE_KAFKA=1 but {why}")
    if why:
        pytest.skip(why)


def test_cluster_id_is_a_kafka_uuid_string():
    ids = {kafka_broker.cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for i in ids:
        assert len(i) == 22 and not i.startswith("-")
        assert set(i) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_without_java_the_reason_names_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    why = kafka_broker.unavailable()
    assert why is not None and "java" in why


def test_session_broker_answers_on_loopback(kafka_bootstrap):
    if not os.environ.get(kafka_broker.ENV_REUSE):
        assert kafka_bootstrap.startswith("127.0.0.1:")
    assert kafka_broker.answers(kafka_bootstrap)


@pytest.mark.kafka
def test_stop_ends_the_jvm_and_removes_its_directory():
    _need_broker()
    b = kafka_broker.Broker.start()
    pid, data = b.proc.pid, b.data_dir
    assert kafka_broker.answers(b.bootstrap)
    b.stop()
    assert _gone(pid, 5)   # stop() waited for it
    assert not os.path.exists(data)
    b.stop()               # idempotent


@pytest.mark.kafka
def test_the_jvm_dies_with_the_process_that_started_it(tmp_path):
    _need_broker()
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); import kafka_broker\n"
            "b = kafka_broker.Broker.start(sys.argv[2])\n"
            "print(b.proc.pid, flush=True)\n"
            "time.sleep(600)\n")
    starter = subprocess.Popen([sys.executable, "-c", code, HERE, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(starter.stdout.readline())
        assert not _gone(pid, 0.5)
        starter.send_signal(signal.SIGKILL)   # no finalizer, no atexit: only PR_SET_PDEATHSIG
        starter.wait()
        assert _gone(pid, 60), f"the broker JVM {pid} outlived the process that started it"
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait()
