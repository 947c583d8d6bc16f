"""Root conftest for the baseline run of confluent-kafka-python 2.15's integration suite with the
REAL confluent_kafka against a real Kafka broker (docs/compat-baseline.md).

Only trivup (not installed, unused when BROKERS is set) and the schema-registry/avro modules
(optional dependencies not installed; their tests are skipped) are stubbed, and the same
out-of-scope tests as the eventlog glue (../shared/external/conftest.py) are skipped, so the
two runs compare one to one. Not collected by the project's suite.
"""
import sys
import types

import pytest


def _stub(modname, names=(), exc=NotImplementedError):
    mod = types.ModuleType(modname)
    mod.__path__ = []
    sys.modules[modname] = mod
    for n in names:
        def init(self, *a, _n=n, **k):
            raise exc(f"{modname}.{_n}: optional dependencies not installed (baseline stub)")
        setattr(mod, n, type(n, (), {"__init__": init}))


_stub("trivup")
_stub("trivup.clusters")
_stub("trivup.clusters.KafkaCluster", ["KafkaCluster"])
try:
    import confluent_kafka.schema_registry.schema_registry_client  # noqa: F401
except ImportError:
    _stub("confluent_kafka.schema_registry")
    _stub("confluent_kafka.schema_registry.schema_registry_client", ["SchemaRegistryClient"])
    _stub("confluent_kafka.schema_registry._async")
    _stub("confluent_kafka.schema_registry._async.schema_registry_client", ["AsyncSchemaRegistryClient"])
try:
    import confluent_kafka.avro  # noqa: F401
except ImportError:
    _stub("confluent_kafka.avro", ["AvroConsumer", "AvroProducer"], ImportError)

_OUT_OF_SCOPE = ("schema_registry", "share_consumer", "oauth", "sasl", "scram", "ssl", "avro")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(k in item.nodeid.lower() for k in _OUT_OF_SCOPE):
            item.add_marker(pytest.mark.skip(reason="out of scope (as in the eventlog glue)"))
