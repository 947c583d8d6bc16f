"""pytest glue running the public-API behaviour tests on both back ends: a directory and the
session's real Kafka broker (kafka_fixtures.py).

Rules it keeps:
- A test that asks (directly or through another fixture) for `any_log` runs twice, ids
  `[directory]` and `[kafka]`; the kafka run carries the `kafka` marker.
- `@pytest.mark.directory_only(reason="...")` keeps a test on the directory: for behaviour a
  cluster has no counterpart of (flocks across processes, fsync, crash recovery, maintenance,
  file layout) or a documented difference (docs/kafka.md, "Differences that remain"). The
  reason is required: collection fails without one.
- The broker is shared by the session, so a kafka run leaves it as it found it: topics it
  created and consumer groups it joined through `any_log` are deleted at teardown (tests may
  reuse fixed names; other sessions' topics are left alone). Tests
  that list topics compare with `topics_made(log)`, not with an empty broker.
- A parametrized case marked `directory_only` (pytest.param(..., marks=...)) is skipped on
  kafka with its reason.
"""
import time

import pytest

import eventlog

BACKENDS = ("directory", "kafka")


def pytest_generate_tests(metafunc):
    if "any_log" not in metafunc.fixturenames:
        return
    only = metafunc.definition.get_closest_marker("directory_only")
    if only is not None and not only.kwargs.get("reason"):
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: directory_only needs reason=\"...\"")
    params = [pytest.param("directory", id="directory")]
    if only is None:
        params.append(pytest.param("kafka", id="kafka", marks=pytest.mark.kafka))
    metafunc.parametrize("any_log", params, indirect=True)


def _track(log):
    """Record the topics and groups this log makes (for the teardown: only those are removed,
    so a concurrent session on the same broker keeps its own)."""
    made = {"topics": set(), "groups": set()}
    create, consumer = log.create_topic, log.consumer

    def create_topic(name, *a, **kw):
        t = create(name, *a, **kw)
        made["topics"].add(name)
        return t

    def make_consumer(*a, **kw):
        if kw.get("group_id") is not None:
            made["groups"].add(kw["group_id"])
        return consumer(*a, **kw)
    log.create_topic, log.consumer = create_topic, make_consumer
    return made


def _cleanup(log, made):
    for g in made["groups"]:
        # a member may still be leaving (the broker drops it after its session timeout): wait
        # until the group can be deleted, so the next test that uses the same id starts clean
        deadline = time.monotonic() + 60
        while True:
            try:
                log.group(g).delete()
                break
            except eventlog.GroupNotEmptyError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            except Exception:   # no such group (nothing was committed), or the log is gone
                break
    for t in made["topics"]:
        try:
            log.delete_topic(t)
        except Exception:
            pass


def topics_made(log):
    """The topics this test made (a kafka log's broker is shared by the session)."""
    return sorted(set(log.topics()) - log.topics_before)


@pytest.fixture
def any_log(request, tmp_path):
    """An opened log on one back end (`log.kind` is "directory" or "kafka")."""
    kind = getattr(request, "param", "directory")
    only = request.node.get_closest_marker("directory_only")
    if kind == "kafka" and only is not None:
        pytest.skip(f"directory only: {only.kwargs.get('reason')}")
    if kind == "directory":
        log = eventlog.open(tmp_path / "log")
        log.kind, log.topics_before = kind, frozenset()
        yield log
        log.close()
        return
    pytest.importorskip("confluent_kafka")
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    log = eventlog.open(f"kafka://{bootstrap}?client.id=eventlog-tests")
    log.kind, log.topics_before = kind, frozenset(log.topics())
    made = _track(log)
    try:
        yield log
    finally:
        try:
            log.close()
        finally:
            with eventlog.open(f"kafka://{bootstrap}?client.id=eventlog-tests-cleanup") as admin:
                _cleanup(admin, made)
