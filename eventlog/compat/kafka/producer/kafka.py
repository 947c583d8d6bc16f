"""kafka.producer.kafka: KafkaProducer over an eventlog directory."""
from __future__ import annotations

from eventlog import errors as _el
from eventlog.compat.kafka import errors
from eventlog.compat.kafka._shared import _check_configs, _header_size, _kerr, _open, _ser, _translated
from eventlog.compat.kafka.errors import IllegalStateError, KafkaConfigurationError, KafkaTimeoutError
from eventlog.compat.kafka.partitioner import DefaultPartitioner, _ClusterView
from eventlog.compat.kafka.producer.future import FutureRecordMetadata


# -- producer -----------------------------------------------------------------------------------

_PRODUCER_DEFAULTS = {
    "bootstrap_servers": "localhost", "client_id": None, "key_serializer": None,
    "value_serializer": None, "enable_idempotence": True, "transactional_id": None,
    "transaction_timeout_ms": 60000, "delivery_timeout_ms": 120000, "acks": -1,
    "compression_type": None, "retries": float("inf"), "batch_size": 16384, "linger_ms": 0,
    "partitioner": None, "connections_max_idle_ms": 540000, "max_block_ms": 60000,
    "max_request_size": 1048576, "allow_auto_create_topics": True, "metadata_max_age_ms": 300000,
    "client_dns_lookup": "use_all_dns_ips", "retry_backoff_ms": 100, "request_timeout_ms": 30000,
    "receive_message_max_bytes": 100_000_000, "receive_buffer_bytes": None,
    "send_buffer_bytes": None, "socket_options": None, "reconnect_backoff_ms": 50,
    "reconnect_backoff_max_ms": 30000, "max_in_flight_requests_per_connection": 5,
    "security_protocol": "PLAINTEXT", "ssl_context": None, "ssl_check_hostname": True,
    "ssl_cafile": None, "ssl_certfile": None, "ssl_keyfile": None, "ssl_crlfile": None,
    "ssl_password": None, "ssl_ciphers": None, "api_version": None, "api_version_auto_timeout_ms": 2000,
    "bootstrap_timeout_ms": 30000, "metric_reporters": [], "metrics_enabled": True,
    "metrics_num_samples": 2, "metrics_sample_window_ms": 30000, "selector": None,
    "sasl_mechanism": None, "sasl_plain_username": None, "sasl_plain_password": None,
    "sasl_kerberos_name": None, "sasl_kerberos_service_name": "kafka",
    "sasl_kerberos_domain_name": None, "sasl_oauth_token_provider": None, "proxy_url": None,
    "socks5_proxy": None, "kafka_client": None, "buffer_memory": 33554432,
}


class KafkaProducer:
    """kafka-python's KafkaProducer writing to an eventlog directory."""

    DEFAULT_CONFIG = _PRODUCER_DEFAULTS

    @classmethod
    def max_usable_produce_magic(cls, api_version):
        """The record format version usable with a broker of `api_version` (a tuple): 2 from
        0.11 (eventlog writes format v2), 1 from 0.10, else 0."""
        if api_version >= (0, 11):
            return 2
        if api_version >= (0, 10, 0):
            return 1
        return 0

    def __init__(self, **configs):
        self.config = c = _check_configs(configs, _PRODUCER_DEFAULTS, "KafkaProducer")
        if c["transactional_id"] is not None:
            raise KafkaConfigurationError(
                "transactional_id: eventlog has no transactions (records are visible once written); "
                "run transactional code against a real broker")
        p = c["partitioner"]
        self._partitioner = None
        if p is not None and not isinstance(p, DefaultPartitioner):
            if not (callable(p) or callable(getattr(p, "partition", None))):
                raise KafkaConfigurationError(f"partitioner must be a Partitioner or a callable, got {p!r}")
            self._partitioner = p
        self._ref = _open(c["bootstrap_servers"], "KafkaProducer")
        self._closed = False
        try:
            # murmur2 for keyed records, as kafka-python (eventlog's default partitioner, which
            # caches key hashes); sticky batches for null keys
            self._p = self._ref.log.producer(
                linger_ms=c["linger_ms"], batch_size=max(1, int(c["batch_size"])),
                buffer_memory=int(c["buffer_memory"]), max_block_ms=c["max_block_ms"])
        except Exception:
            self._ref.release()
            raise
        self._cluster = _ClusterView(self._ref)
        self._known = set()

    def __repr__(self):
        return f"<eventlog.compat.kafka.KafkaProducer {self._ref.log.path!r}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def bootstrap_connected(self):
        return not self._closed

    def _topic(self, topic):
        if topic in self._known:
            return
        auto = self.config["allow_auto_create_topics"]
        try:
            self._ref.topic(topic, create=auto)
        except _el.InvalidTopicError as e:
            raise ValueError(f"Invalid topic {topic!r}: {e}") from None
        except _el.UnknownTopicError:
            raise KafkaTimeoutError(
                f"Failed to update metadata after {self.config['max_block_ms'] / 1000} secs: topic "
                f"{topic!r} does not exist in {self._ref.log.path} and auto-creation is off") from None
        self._known.add(topic)

    def send(self, topic, value=None, key=None, headers=None, partition=None, timestamp_ms=None):
        if self._closed:
            raise IllegalStateError("KafkaProducer already closed!")
        if value is None and key is None:
            raise ValueError("Need at least one: key or value")
        if headers is None:
            headers = []
        if not isinstance(headers, list):
            raise TypeError("headers must be list-type")
        if not all(isinstance(h, tuple) and len(h) == 2 and isinstance(h[0], str) and isinstance(h[1], bytes)
                   for h in headers):
            raise TypeError("All headers items must be (str, bytes) tuples")
        kb = _ser(self.config["key_serializer"], topic, headers, key)
        vb = _ser(self.config["value_serializer"], topic, headers, value)
        for what, b in (("key", kb), ("value", vb)):
            if type(b) not in (bytes, bytearray, memoryview, type(None)):
                raise TypeError(f"Unsupported type for serialized {what}: {type(b)}")
        if kb is not None and type(kb) is not bytes:
            kb = bytes(kb)
        if vb is not None and type(vb) is not bytes:
            vb = bytes(vb)
        sizes = (len(kb) if kb is not None else -1, len(vb) if vb is not None else -1, _header_size(headers))
        self._topic(topic)
        if partition is not None:
            if not isinstance(partition, int) or partition < 0:
                raise ValueError("partition must be >= 0")
            n = self._count(topic)
            if partition >= n:
                raise ValueError(f"Unrecognized partition {partition} for topic {topic}")
        elif self._partitioner is not None:
            partition = self._user_partition(topic, key, kb, value, vb)
        size = 61 + (sizes[0] if kb is not None else 0) + (sizes[1] if vb is not None else 0) + \
            (sizes[2] if headers else 0)
        if size > self.config["max_request_size"]:
            raise errors.MessageSizeTooLargeError(
                f"The message is {size} bytes when serialized which is larger than the maximum request "
                f"size you have configured with the max_request_size configuration")
        try:
            ef = self._p.send(topic, value=vb, key=kb, headers=headers or None, partition=partition,
                              timestamp_ms=timestamp_ms)
        except _el.EventLogError as e:
            raise _kerr(e) from e
        return FutureRecordMetadata(ef, sizes)

    def _count(self, topic):
        with _translated():
            return self._ref.log.topic(topic).config.partitions

    def _user_partition(self, topic, key, kb, value, vb):
        p = self._partitioner
        fn = getattr(p, "partition", None)
        if fn is not None:
            try:
                part = fn(topic, key, kb, value, vb, self._cluster)
            except TypeError:
                part = fn(topic, kb, self._cluster)
        else:
            parts = list(range(self._count(topic)))
            part = p(kb, parts, parts)
        if part is None:
            raise ValueError(f"Partitioner did not assign a partition for topic {topic}!")
        return part

    def flush(self, timeout=None):
        with _translated():
            self._p.flush(timeout)

    def close(self, timeout=None, null_logger=False):
        if self._closed:
            return
        self._closed = True
        try:
            with _translated():
                self._p.close(timeout)
        finally:
            for k in ("key_serializer", "value_serializer"):
                close = getattr(self.config[k], "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception:
                        pass
            self._ref.release()

    def partitions_for(self, topic):
        self._topic(topic)
        return set(range(self._count(topic)))

    def metrics(self, raw=False):
        return {}

    def _no_txn(self, *a, **k):
        raise IllegalStateError("eventlog has no transactions: run transactional code against a real broker")

    init_transactions = begin_transaction = send_offsets_to_transaction = _no_txn
    commit_transaction = abort_transaction = _no_txn
