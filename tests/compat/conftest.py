"""Fixtures of the differential suite: the real client libraries (imported before anything can
patch them), librdkafka's mock cluster (one per session), and the two `Side`s a scenario runs on.
"""
import importlib
import itertools
import os
import sys
import warnings

import pytest

import eventlog
import eventlog.pytest_plugin as _plugin

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
import _mock  # noqa: E402


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


class Side:
    """Where one run of a scenario happens: `real` (real client, mock cluster) or `facade`
    (eventlog.compat, a fresh log). Scenarios use only what is here, so both runs execute
    the same code."""

    def __init__(self, name, prefix, kafka=None, ck=None, bootstrap=None, mock=None, log=None):
        self.name = name
        self.prefix = prefix
        self.kafka = kafka
        self.ck = ck
        self.bootstrap = bootstrap
        self._mock = mock
        self._log = log
        self.real = name == "real"
        # kafka-python 3.x must be told the protocol version the mock speaks
        self.kconf = {"bootstrap_servers": bootstrap, "request_timeout_ms": 10000}
        if self.real:
            self.kconf["api_version"] = (2, 3)
        self.cconf = {"bootstrap.servers": bootstrap}
        self._closers = []

    def topic(self, name, partitions=1):
        """Create `prefix-name` with `partitions` (through the mock's API on the real side:
        its admin API cannot create topics) and return its full name."""
        full = f"{self.prefix}-{name}"
        if self._mock is not None:
            self._mock.create_topic(full, partitions)
        else:
            self._log.create_topic(full, partitions=partitions)
        return full

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


@pytest.fixture(scope="session")
def mock_cluster():
    mc = _mock.MockCluster.start()
    if mc is None:
        pytest.skip(f"librdkafka mock cluster unavailable: {_mock.unavailable}")
    yield mc
    mc.close()


@pytest.fixture
def sides(request, tmp_path):
    """(real, facade) Sides for the client the test module names in CLIENT."""
    client = request.module.CLIENT
    if client == "kafka" and REAL_KAFKA is None:
        pytest.skip(KAFKA_MISSING)
    if REAL_CK is None:  # the mock cluster comes with confluent-kafka's librdkafka
        pytest.skip(CK_MISSING)
    mc = request.getfixturevalue("mock_cluster")
    from eventlog.compat import confluent_kafka as fck
    from eventlog.compat import kafka as fk
    prefix = f"s{next(_counter)}"
    log = eventlog.open(tmp_path / "log")
    real = Side("real", prefix, kafka=REAL_KAFKA, ck=REAL_CK, bootstrap=mc.bootstrap, mock=mc)
    fac = Side("facade", prefix, kafka=fk, ck=fck, bootstrap=f"eventlog://{log.path}", log=log)
    yield real, fac
    real.close_all()
    fac.close_all()
    log.close()
