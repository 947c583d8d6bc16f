"""librdkafka's in-process mock Kafka cluster, driven through ctypes.

The confluent-kafka wheel bundles librdkafka, which exports a mock cluster API
(``rd_kafka_mock_*``): a Kafka-protocol broker running on threads inside this process, on
127.0.0.1. Any client (confluent-kafka, kafka-python) can connect to its bootstrap string.
`MockCluster.start()` returns None, with the reason in `MockCluster.unavailable`, when
confluent-kafka or the mock API cannot be had, so callers can skip instead of failing.

Used by bench/compat.py (the cheapest Kafka-protocol peer to time the real clients against).
The differential tests' truth is a real broker (tests/kafka_broker.py), not this mock.
"""
import ctypes
import glob
import os

unavailable = None


def _load():
    try:
        import confluent_kafka
    except Exception as e:  # not installed, or a broken wheel
        return None, f"confluent-kafka is not installed ({type(e).__name__}: {e}); pip install 'eventlog[compat-test]'"
    root = os.path.dirname(os.path.dirname(confluent_kafka.__file__))
    cands = sorted(glob.glob(os.path.join(root, "confluent_kafka.libs", "librdkafka*.so*")))
    if not cands:
        # a build against a system librdkafka: use the one the extension links to
        cands = ["librdkafka.so.1"]
    for path in cands:
        try:
            lib = ctypes.CDLL(path)
            lib.rd_kafka_mock_cluster_new  # noqa: B018 - attribute lookup checks the export
            return lib, None
        except (OSError, AttributeError) as e:
            err = f"cannot load librdkafka's mock cluster API from {path}: {e}"
    return None, err


class MockCluster:
    """One mock cluster: `bootstrap` (host:port list), `create_topic(name, partitions)`,
    `close()`."""

    def __init__(self, lib, brokers=1):
        self._lib = lib
        L = lib
        vp, cp, ci, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t
        L.rd_kafka_conf_new.restype = vp
        L.rd_kafka_conf_set.argtypes = [vp, cp, cp, cp, sz]
        L.rd_kafka_new.restype = vp
        L.rd_kafka_new.argtypes = [ci, vp, cp, sz]
        L.rd_kafka_destroy.argtypes = [vp]
        L.rd_kafka_mock_cluster_new.restype = vp
        L.rd_kafka_mock_cluster_new.argtypes = [vp, ci]
        L.rd_kafka_mock_cluster_bootstraps.restype = cp
        L.rd_kafka_mock_cluster_bootstraps.argtypes = [vp]
        L.rd_kafka_mock_topic_create.argtypes = [vp, cp, ci, ci]
        L.rd_kafka_mock_topic_create.restype = ci
        L.rd_kafka_mock_group_initial_rebalance_delay_ms.argtypes = [vp, ci]
        L.rd_kafka_mock_cluster_destroy.argtypes = [vp]
        err = ctypes.create_string_buffer(512)
        conf = L.rd_kafka_conf_new()
        L.rd_kafka_conf_set(conf, b"log_level", b"0", err, 512)
        self._rk = L.rd_kafka_new(0, conf, err, 512)  # RD_KAFKA_PRODUCER: only a handle for the mock
        if not self._rk:
            raise RuntimeError(f"rd_kafka_new failed: {err.value.decode(errors='replace')}")
        self._mc = L.rd_kafka_mock_cluster_new(self._rk, brokers)
        if not self._mc:
            L.rd_kafka_destroy(self._rk)
            raise RuntimeError("rd_kafka_mock_cluster_new failed")
        L.rd_kafka_mock_group_initial_rebalance_delay_ms(self._mc, 0)
        self.bootstrap = L.rd_kafka_mock_cluster_bootstraps(self._mc).decode()

    @classmethod
    def start(cls, brokers=1):
        global unavailable
        lib, why = _load()
        if lib is None:
            unavailable = why
            return None
        try:
            return cls(lib, brokers)
        except Exception as e:
            unavailable = f"the librdkafka mock cluster did not start: {type(e).__name__}: {e}"
            return None

    def create_topic(self, name, partitions=1):
        rc = self._lib.rd_kafka_mock_topic_create(self._mc, name.encode(), partitions, 1)
        if rc not in (0, 36):  # 36: TOPIC_ALREADY_EXISTS (a retried scenario)
            raise RuntimeError(f"rd_kafka_mock_topic_create({name!r}) failed with error {rc}")

    def close(self):
        if self._mc:
            self._lib.rd_kafka_mock_cluster_destroy(self._mc)
            self._mc = None
        if self._rk:
            self._lib.rd_kafka_destroy(self._rk)
            self._rk = None
