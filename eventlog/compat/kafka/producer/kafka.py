"""kafka.producer.kafka: KafkaProducer over an eventlog directory.

With `transactional_id` the producer is transactional (docs/transactions.md): it writes
through eventlog's TransactionalProducer and keeps kafka-python's transaction states
(UNINITIALIZED, READY, IN_TRANSACTION, ABORTABLE_ERROR, FATAL_ERROR) so that each call fails
where, and with the exception, kafka-python 3.0's TransactionManager fails it. Being fenced
(a newer producer with the same id called init_transactions) is fatal: the call that finds
out raises ProducerFencedError (a record's future fails with InvalidProducerEpochError, as
the broker answers a fenced produce), and every later transactional call raises KafkaError
naming that error. Any other failure to write a transaction's records is abortable: commit
is refused, abort_transaction() is allowed.
"""
from __future__ import annotations

import logging

from eventlog import errors as _el
from eventlog.clients import partitioners as _partitioners
from eventlog.compat.kafka import errors
from eventlog.compat.kafka._shared import _check_configs, _header_size, _kerr, _open, _ser, _translated
from eventlog.compat.kafka.errors import IllegalStateError, KafkaConfigurationError, KafkaError, KafkaTimeoutError
from eventlog.compat.kafka.partitioner import DefaultPartitioner, _ClusterView
from eventlog.compat.kafka.producer.future import FutureRecordMetadata, _failed_future
from eventlog.compat.kafka.structs import ConsumerGroupMetadata, TopicPartition

_log = logging.getLogger("eventlog.compat.kafka")

# kafka-python's TransactionState names (the facade's subset)
UNINITIALIZED, READY, IN_TRANSACTION = "UNINITIALIZED", "READY", "IN_TRANSACTION"
COMMITTING, ABORTING = "COMMITTING_TRANSACTION", "ABORTING_TRANSACTION"
ABORTABLE_ERROR, FATAL_ERROR = "ABORTABLE_ERROR", "FATAL_ERROR"


def _txn_record_error(e):
    """A transaction's record that could not be written: fenced -> InvalidProducerEpochError
    (the broker's answer to a fenced produce), aborted -> TransactionAbortedError."""
    if isinstance(e, _el.ProducerFencedError):
        out = errors.InvalidProducerEpochError(str(e))
    elif isinstance(e, _el.TransactionAbortedError):
        out = errors.TransactionAbortedError(str(e))
    else:
        return _kerr(e)
    out.__cause__ = e
    return out


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
        self._transactional = bool(c["transactional_id"])
        self._idempotent = self._check_idempotence(configs)
        p = c["partitioner"]
        self._partitioner = None
        if p is not None and not isinstance(p, DefaultPartitioner):
            if not (callable(p) or callable(getattr(p, "partition", None))):
                raise KafkaConfigurationError(f"partitioner must be a Partitioner or a callable, got {p!r}")
            self._partitioner = p
        self._ref = _open(c["bootstrap_servers"], "KafkaProducer")
        self._closed = False
        self._p = self._txn = None
        self._state = UNINITIALIZED
        self._last_error = None
        try:
            if self._transactional:
                # murmur2 for keyed records, as kafka-python; sticky for null keys
                self._txn_partitioner = _partitioners.get_partitioner(None)
                with _translated():
                    self._txn = self._ref.log.producer(
                        transactional_id=c["transactional_id"],
                        transaction_timeout_ms=c["transaction_timeout_ms"],
                        batch_size=max(1, int(c["batch_size"])))
            else:
                # murmur2 for keyed records, as kafka-python (eventlog's default partitioner,
                # which caches key hashes); sticky batches for null keys
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

    def _check_idempotence(self, given):
        """kafka-python's checks: transactional_id needs idempotence, which conflicts with
        user-set acks != -1 (all), retries=0 or more than 5 requests in flight (an error with
        transactional_id or enable_idempotence=True set by the user, else idempotence is
        turned off with a warning). Returns whether the producer is idempotent."""
        c = self.config
        if "enable_idempotence" in given and not c["enable_idempotence"] and self._transactional:
            raise KafkaConfigurationError("Cannot set transactional_id without enable_idempotence.")
        if not (c["enable_idempotence"] or self._transactional):
            return False
        conflicts = []
        if "acks" in given and c["acks"] not in (-1, "all"):
            conflicts.append(("acks", c["acks"]))
        if "retries" in given and c["retries"] == 0:
            conflicts.append(("retries", 0))
        if "max_in_flight_requests_per_connection" in given and c["max_in_flight_requests_per_connection"] > 5:
            conflicts.append(("max_in_flight_requests_per_connection", c["max_in_flight_requests_per_connection"]))
        if conflicts:
            text = ", ".join("%s=%r" % kv for kv in conflicts)
            if self._transactional or "enable_idempotence" in given:
                raise KafkaConfigurationError(f"enable_idempotence=True is incompatible with user-provided {text}")
            _log.warning("%s: Idempotence will be disabled because user-provided config conflicts with"
                         " idempotent defaults: %s", self, text)
            return False
        return True

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
        if self._transactional:
            return self._send_in_transaction(topic, vb, kb, headers, partition, timestamp_ms, sizes)
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
        if self._transactional:
            self._txn_flush()
            return
        with _translated():
            self._p.flush(timeout)

    def close(self, timeout=None, null_logger=False):
        if self._closed:
            return
        self._closed = True
        try:
            with _translated():
                (self._txn or self._p).close(timeout)
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

    # -- transactions (kafka-python's TransactionManager states and messages) ---------------
    def _not_transactional(self, plain_message):
        """What kafka-python raises for a transactional call on a producer without a
        transactional_id: idempotent producers have a TransactionManager that refuses it."""
        if self._idempotent:
            return IllegalStateError("Transactional method invoked on a non-transactional producer.")
        return IllegalStateError(plain_message)

    def _fail_if_error(self):
        if self._state in (ABORTABLE_ERROR, FATAL_ERROR):
            raise KafkaError("Cannot execute transactional method because we are in an error state: "
                             f"{self._last_error}")

    def _transition(self, target, allowed):
        if self._state not in allowed:
            raise KafkaError(f"TransactionalId {self.config['transactional_id']}: Invalid transition attempted "
                             f"from state {self._state} to state {target}")

    def _failed(self, e):
        """Enter the error state an eventlog error while writing the transaction puts the
        producer in: fenced -> FATAL_ERROR (ProducerFencedError), else ABORTABLE_ERROR.
        Returns the kafka-python error for it."""
        if isinstance(e, _el.ProducerFencedError):
            k = errors.ProducerFencedError(str(e))
            k.__cause__ = e
            self._state, self._last_error = FATAL_ERROR, k
            return k
        k = _kerr(e)
        if self._state == IN_TRANSACTION:
            self._state, self._last_error = ABORTABLE_ERROR, k
        return k

    def _txn_flush(self):
        """Write the open transaction's buffered records (still invisible to read_committed
        readers). A failure fails their futures and sets the error state; it is not raised
        here, as kafka-python's sender does not raise either."""
        if self._closed or self._state != IN_TRANSACTION:
            return
        try:
            self._txn.flush()
        except _el.EventLogError as e:
            self._failed(e)

    def _send_in_transaction(self, topic, vb, kb, headers, partition, timestamp_ms, sizes):
        if self._state in (ABORTABLE_ERROR, FATAL_ERROR):
            raise KafkaError("Cannot perform send because at least one previous transactional or"
                             " idempotent request has failed with errors.", self._last_error)
        if self._state == UNINITIALIZED:
            raise IllegalStateError("Cannot perform a 'send' before completing a call to init_transactions"
                                    " when transactions are enabled.")
        if self._state != IN_TRANSACTION:
            raise IllegalStateError(f"Cannot call send in state {self._state}")
        if partition is None:   # chosen here, so the future knows its partition at once
            partition = self._txn_partitioner(kb, self._count(topic))
        tp = TopicPartition(topic, partition)
        try:
            ef = self._txn.send(topic, value=vb, key=kb, headers=headers or None, partition=partition,
                                timestamp_ms=timestamp_ms)
        except _el.EventLogError as e:
            if isinstance(e, (_el.InvalidArgumentError, _el.InvalidTypeError, _el.UnknownTopicError)):
                raise _kerr(e) from e
            # the buffer was full and writing it failed: that record's future fails
            self._failed(e)
            return _failed_future(tp, _txn_record_error(e), sizes)
        return FutureRecordMetadata(ef, sizes, tp, flush=self._txn_flush, kerr=_txn_record_error)

    def init_transactions(self):
        """Register the transactional_id: fence every older producer with it (their
        transactional calls raise ProducerFencedError) and finish the transaction it left
        open (aborted, or rolled forward if it was committing). Once per producer; calling it
        again after it succeeded does nothing, as in kafka-python."""
        if not self._transactional:
            raise self._not_transactional("Cannot call init_transactions without setting a transactional_id.")
        if self._state != UNINITIALIZED:
            return
        if self._closed:
            raise IllegalStateError("KafkaProducer already closed!")
        with _translated():
            self._txn.init_transactions()
        self._state = READY

    def begin_transaction(self):
        """Start a transaction: records sent until commit_transaction() commit together."""
        if not self._transactional:
            raise self._not_transactional("Cannot use transactional methods without enabling transactions")
        self._fail_if_error()
        self._transition(IN_TRANSACTION, (READY,))
        with _translated():
            self._txn.begin_transaction()
        self._state = IN_TRANSACTION

    def send_offsets_to_transaction(self, offsets, group_metadata):
        """Make committing `offsets` ({TopicPartition: OffsetAndMetadata}) for the consumer
        group of `group_metadata` (KafkaConsumer.group_metadata(), or a group id) part of the
        open transaction: committed, with their metadata, if and only if it commits."""
        if not self._transactional and not self._idempotent:
            raise IllegalStateError("Cannot use transactional methods without enabling transactions")
        if isinstance(group_metadata, str):
            group_metadata = ConsumerGroupMetadata(group_id=group_metadata)
        elif not isinstance(group_metadata, ConsumerGroupMetadata):
            raise TypeError("send_offsets_to_transaction expects group_metadata to be a ConsumerGroupMetadata "
                            f"or a group_id str, got {type(group_metadata)!r}")
        if group_metadata.generation_id > 0 and not group_metadata.member_id:
            raise ValueError(f"Invalid ConsumerGroupMetadata: generation_id={group_metadata.generation_id} "
                             "implies a joined group but member_id is empty")
        if not self._transactional:
            raise self._not_transactional("")
        self._fail_if_error()
        if self._state != IN_TRANSACTION:
            raise KafkaError("Cannot send offsets to transaction because the producer is not in an active transaction")
        for tp, om in offsets.items():
            if not (hasattr(om, "offset") and hasattr(om, "metadata")):
                raise TypeError(f"offsets must map TopicPartition to OffsetAndMetadata(offset, metadata, "
                                f"leader_epoch); got {om!r:.80} for {tp}")
        try:
            self._txn.send_offsets_to_transaction(dict(offsets), group_metadata.group_id)
        except (_el.InvalidArgumentError, _el.InvalidTypeError):
            raise
        except _el.IllegalStateError as e:   # refused before anything was stored (a second group)
            raise _kerr(e) from e
        except _el.EventLogError as e:
            raise self._failed(e) from e

    def _end(self, commit):
        try:
            if commit:
                self._txn.commit_transaction()
            else:
                self._txn.abort_transaction()
        except _el.EventLogError as e:
            if isinstance(e, _el.ProducerFencedError):
                raise self._failed(e) from e
            k = _kerr(e)
            self._state, self._last_error = (ABORTABLE_ERROR, k) if commit else (FATAL_ERROR, k)
            raise k from e
        self._state = READY

    def commit_transaction(self):
        """Write what is buffered and commit: every record of the transaction becomes
        visible to read_committed consumers, and the offsets sent to it are committed, all or
        nothing. ProducerFencedError if a newer producer has this transactional_id."""
        if not self._transactional:
            raise self._not_transactional("Cannot commit transaction since transactions are not enabled")
        self._fail_if_error()
        self._transition(COMMITTING, (IN_TRANSACTION,))
        self._end(True)

    def abort_transaction(self):
        """Abort: no record of the transaction is ever shown to read_committed consumers and
        its offsets are not committed; futures of records not yet written fail with
        TransactionAbortedError. Allowed after an abortable error."""
        if not self._transactional:
            raise self._not_transactional("Cannot abort transaction since transactions are not enabled.")
        if self._state != ABORTABLE_ERROR:
            self._fail_if_error()
        self._transition(ABORTING, (IN_TRANSACTION, ABORTABLE_ERROR))
        if self._state == ABORTABLE_ERROR:
            self._state = IN_TRANSACTION
        self._end(False)
