"""Fixtures of the differential suite: the real client libraries (imported before anything can
patch them), the real Kafka broker (tests/kafka_fixtures.py, one per session), and the two
`Side`s a scenario runs on.
"""
import gc
import importlib
import itertools
import os
import sys
import time
import uuid
import warnings

import pytest

import eventlog
import eventlog.pytest_plugin as _plugin

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)


def pytest_configure(config):
    # the plugin is registered by the pytest11 entry point when eventlog is installed; with
    # only PYTHONPATH=. it is not, so register it here (once)
    pm = config.pluginmanager
    if not pm.is_registered(_plugin) and pm.get_plugin("eventlog") is None:
        pm.register(_plugin, "eventlog")


def _import_real(name):
    """The real library, even if a facade is in sys.modules at this moment."""
    from eventlog.compat import facade
    fac = facade(name)
    hidden = {k: v for k, v in sys.modules.items()
              if k.split(".")[0] == name and v in fac.MODULES.values()}
    for k in hidden:
        del sys.modules[k]
    try:
        with warnings.catch_warnings():   # kafka-python 3.0 trips importlib.resources deprecations
            warnings.simplefilter("ignore", DeprecationWarning)
            return importlib.import_module(name), None
    except Exception as e:
        return None, f"{name} is not installed ({type(e).__name__}: {e}); pip install 'eventlog[compat-test]'"
    finally:
        sys.modules.update(hidden)


REAL_KAFKA, KAFKA_MISSING = _import_real("kafka")
REAL_CK, CK_MISSING = _import_real("confluent_kafka")
if REAL_KAFKA is not None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import kafka.admin  # noqa: F401,E402 - make the attribute path kafka.admin available
        import kafka.errors  # noqa: F401,E402
        import kafka.partitioner  # noqa: F401,E402
        import kafka.structs  # noqa: F401,E402
if REAL_CK is not None:
    import confluent_kafka.admin  # noqa: F401,E402

_counter = itertools.count()
# names on the broker are unique per session too: EVENTLOG_TEST_KAFKA may reuse a broker
_SESSION = uuid.uuid4().hex[:6]


class Side:
    """Where one run of a scenario happens: `real` (real client, real Kafka broker) or `facade`
    (eventlog.compat, a fresh log). Scenarios use only what is here, so both runs execute
    the same code."""

    def __init__(self, name, prefix, kafka=None, ck=None, bootstrap=None, admin=None, log=None):
        self.name = name
        self.prefix = prefix
        self.kafka = kafka
        self.ck = ck
        self.bootstrap = bootstrap
        self._admin = admin
        self._log = log
        self.real = name == "real"
        self.kconf = {"bootstrap_servers": bootstrap, "request_timeout_ms": 10000}
        self.cconf = {"bootstrap.servers": bootstrap}
        self._closers = []

    def topic(self, name, partitions=1, config=None):
        """Create `prefix-name` with `partitions` and topic `config` (Kafka names) and return its
        full name. Harness, not scenario: on the broker through the real AdminClient, waiting
        until every partition has a leader; on the facade side in the log directly."""
        full = f"{self.prefix}-{name}"
        if self._admin is not None:
            nt = REAL_CK.admin.NewTopic(full, partitions, 1, config=dict(config or {}))
            self._admin.create_topics([nt])[full].result(30)

            def ready():
                t = self._admin.list_topics(full, timeout=10).topics.get(full)
                return (t is not None and t.error is None and len(t.partitions) == partitions
                        and all(p.leader >= 0 for p in t.partitions.values()))
            if not _until(ready, 30):
                raise RuntimeError(f"topic {full} has no leader for every partition after 30 s")
        elif config:   # Kafka config names: through the facade's public admin, which maps them
            admin = self.ck.admin.AdminClient(self.cconf)
            admin.create_topics([self.ck.admin.NewTopic(full, partitions, 1, config=dict(config))])[full].result(30)
        else:
            self._log.create_topic(full, partitions=partitions)
        return full

    def clean(self, topic, cleaned, timeout=90.0):
        """Let the log cleaner run on `topic` until `cleaned()` is true (a condition the scenario
        reads through its client), and return its last value. The broker's cleaner runs on its
        own schedule: poll. eventlog cleans when asked: log.maintain(), then check."""
        if self._admin is not None:
            return _until(cleaned, timeout, interval=0.5)
        return _until(lambda: self._log.maintain([topic]) is not None and cleaned(), timeout, interval=0.1)

    def group(self, name="g"):
        return f"{self.prefix}-{name}"

    def closing(self, obj):
        """Close `obj` at the end of the scenario run (even if it fails)."""
        self._closers.append(obj)
        return obj

    def close_all(self):
        for obj in reversed(self._closers):
            try:
                close = getattr(obj, "close", None)
                if close is not None:
                    close()
            except Exception:
                pass
        self._closers.clear()


def _until(fn, timeout, interval=0.0):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        if interval:
            time.sleep(interval)


@pytest.fixture(scope="session")
def real_admin(kafka_bootstrap):
    """The real confluent-kafka AdminClient on the session's broker (the harness's topic maker)."""
    if REAL_CK is None:
        pytest.skip(CK_MISSING)
    admin = REAL_CK.admin.AdminClient({"bootstrap.servers": kafka_bootstrap})
    yield admin
    del admin   # its librdkafka handle goes before the broker does (no reconnect noise at the end)
    gc.collect()


@pytest.fixture
def sides(request, tmp_path, kafka_bootstrap, real_admin):
    """(real, facade) Sides for the client the test module names in CLIENT."""
    client = request.module.CLIENT
    if client == "kafka" and REAL_KAFKA is None:
        pytest.skip(KAFKA_MISSING)
    bootstrap, admin = kafka_bootstrap, real_admin
    from eventlog.compat import confluent_kafka as fck
    from eventlog.compat import kafka as fk
    prefix = f"{_SESSION}-s{next(_counter)}"
    log = eventlog.open(tmp_path / "log")
    real = Side("real", prefix, kafka=REAL_KAFKA, ck=REAL_CK, bootstrap=bootstrap, admin=admin)
    fac = Side("facade", prefix, kafka=fk, ck=fck, bootstrap=f"eventlog://{log.path}", log=log)
    yield real, fac
    real.close_all()
    fac.close_all()
    log.close()
