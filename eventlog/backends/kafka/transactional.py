"""KafkaTransactionalProducer: eventlog's transactional producer API (init_transactions,
begin_transaction, send, send_offsets_to_transaction, commit_transaction, abort_transaction,
close; docs/transactions.md) over confluent-kafka's transactional producer (KIP-98 on the
broker: its transaction coordinator, markers, fencing and the last stable offset).

Rules it keeps (the directory's TransactionalProducer's, `eventlog.clients.transactional`):
- The same errors: a newer producer with the same `transactional_id` (or a broker-side
  timeout that bumped the epoch) makes every later call raise `ProducerFencedError`, fatal
  for this object; a call in the wrong state raises `IllegalStateError` naming what to call
  first, checked here before librdkafka is asked (so `send` outside a transaction raises at
  once instead of failing its future); futures of records the abort dropped fail with
  `TransactionAbortedError`.
- Offsets sent with `send_offsets_to_transaction` are committed by the broker iff the
  transaction commits. A consumer's `group_metadata()` carries its generation and member id
  (KIP-447), so the broker refuses offsets of a member that lost its partitions; a bare
  group id commits without that check (generation -1), as Kafka's older clients did.
- An error the transaction can recover from by aborting (librdkafka's
  `txn_requires_abort()`) is raised with `requires_abort = True` on the exception: call
  `abort_transaction()` and retry the transaction.
"""
import sys
import threading

from eventlog.backends.kafka._client import ck, map_error
from eventlog.backends.kafka.producer import KafkaProducer
from eventlog.clients.transactional import GroupMetadata
from eventlog.errors import (IllegalStateError, InvalidArgumentError, InvalidTypeError, ProducerClosedError,
                             ProducerFencedError)
from eventlog.record import TopicPartition
from eventlog.transactions.coordinator import DEFAULT_TIMEOUT_MS, check_timeout, check_transactional_id

_FENCED_CODES = ("_FENCED", "PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH", "TRANSACTIONAL_ID_AUTHORIZATION_FAILED")


class KafkaTransactionalProducer(KafkaProducer):
    """A producer with a `transactional_id` on a Kafka cluster. Create with
    `log.producer(transactional_id="...")`; call `init_transactions()` once, then per
    transaction `begin_transaction()`, `send(...)` (and `send_offsets_to_transaction`), and
    `commit_transaction()` or `abort_transaction()`.

    Options: transaction_timeout_ms (60000 -> `transaction.timeout.ms`; the broker aborts an
    open transaction older than this and fences its producer), the KafkaProducer options
    (linger_ms, batch_size, partitioner, serializers, ...; acks is always "all", as
    transactions need idempotence), and `timeout_s` for the blocking calls (default: the
    log's timeout, 30 s)."""

    def __init__(self, log, *, transactional_id, transaction_timeout_ms=DEFAULT_TIMEOUT_MS, timeout_s=None,
                 config=None, acks="all", **options):
        self.transactional_id = check_transactional_id(transactional_id)
        self.transaction_timeout_ms = check_timeout(transaction_timeout_ms)
        if acks not in ("all", -1, "-1"):
            raise InvalidArgumentError(f"a transactional producer needs acks='all' (idempotence), got acks={acks!r}")
        if timeout_s is not None and (isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float))
                                      or timeout_s <= 0):
            raise InvalidArgumentError(f"timeout_s must be seconds > 0, got {timeout_s!r}")
        self._timeout = float(timeout_s) if timeout_s is not None else log.timeout
        conf = {"transactional.id": transactional_id, "transaction.timeout.ms": transaction_timeout_ms,
                "enable.idempotence": True}
        conf.update(config or {})
        self._state_lock = threading.RLock()
        self._inited = False
        self._in_txn = False
        self._fatal = None
        super().__init__(log, acks="all", config=conf, **options)
        self._fast = False   # every send checks the transaction state first

    # -- state -----------------------------------------------------------------------------
    def _check_state(self, need_txn=None):
        if self._closed:
            raise ProducerClosedError(f"transactional producer {self.transactional_id!r} is closed")
        if self._fatal is not None:   # fatal for this producer: the same error again
            raise type(self._fatal)(str(self._fatal))
        if not self._inited:
            raise IllegalStateError("call init_transactions() first")
        if need_txn is True and not self._in_txn:
            raise IllegalStateError("no transaction is open: call begin_transaction() first")
        if need_txn is False and self._in_txn:
            raise IllegalStateError("a transaction is already open: commit or abort it first")

    def _call(self, what, fn, *args):
        """fn(*args), with a KafkaException raised as the matching EventLogError."""
        try:
            return fn(*args)
        except ck().KafkaException as e:
            raise self._mapped(e, what) from e

    def _mapped(self, exc, what):
        kerr = exc.args[0] if exc.args and isinstance(exc.args[0], ck().KafkaError) else None
        context = f"{what} of transactional_id {self.transactional_id!r}"
        if kerr is not None and (kerr.name() in _FENCED_CODES or kerr.code() == ck().KafkaError._FENCED):
            err = ProducerFencedError(
                f"{context}: this producer was fenced ({kerr.str()}, Kafka error {kerr.name()}): a newer producer "
                "with the same transactional_id called init_transactions, or the broker aborted the "
                "transaction after transaction_timeout_ms; close this producer and create a new one")
            err.kafka_error = kerr
            self._fatal = err
            self._in_txn = False
            return err
        err = map_error(exc, context)
        if kerr is not None:
            err.requires_abort = kerr.txn_requires_abort()
            if kerr.fatal():
                self._fatal = err
        return err

    def _on_fatal(self, exc):
        """From the poll thread: remember a fatal error (fencing), so every later call raises it."""
        if self._fatal is None:
            self._mapped(exc, "poll")

    @property
    def producer_id(self):
        """Not exposed by librdkafka: None (the broker's producer id is internal)."""
        return None

    @property
    def producer_epoch(self):
        return None

    # -- the transactional API ---------------------------------------------------------------
    def init_transactions(self):
        """Register this producer's transactional_id with the broker's transaction coordinator:
        fence every older producer with the same id and abort (or finish) what it left open.
        Call once, before the first transaction."""
        with self._state_lock:
            if self._closed:
                raise ProducerClosedError(f"transactional producer {self.transactional_id!r} is closed")
            if self._inited:
                raise IllegalStateError("init_transactions() was already called on this producer")
            self._call("init_transactions", self._p.init_transactions, self._timeout)
            self._inited = True

    def begin_transaction(self):
        """Start a transaction: what is sent until commit_transaction() commits together."""
        with self._state_lock:
            self._check_state(need_txn=False)
            self._call("begin_transaction", self._p.begin_transaction)
            self._in_txn = True

    def send(self, topic, value=None, key=None, headers=None, partition=None, timestamp_ms=None):
        """Send a record in the open transaction; return a future resolved with its
        RecordMetadata once the broker has it (it becomes visible to read_committed readers
        only when the transaction commits). IllegalStateError without an open transaction."""
        with self._state_lock:
            self._check_state(need_txn=True)
            fut = self._send(topic, value, key, headers, partition, timestamp_ms)
            if fut.done() and isinstance(fut.exception(0), ProducerFencedError):
                # librdkafka refused the record: it already knows this producer is fenced
                self._fatal = fut.exception(0)
                self._in_txn = False
                raise self._fatal
        return fut

    def flush(self, timeout=None):
        """Wait until every record sent so far is acknowledged (still invisible to
        read_committed readers until the commit)."""
        with self._state_lock:
            self._check_state()
        super().flush(timeout)

    def send_offsets_to_transaction(self, offsets, group_metadata, timeout=None):
        """Make committing `offsets` ({TopicPartition: next offset to read}; values may be
        OffsetAndMetadata-like objects with `.offset`) for the consumer group of
        `group_metadata` (a consumer's `group_metadata()`, a GroupMetadata or a group id) part
        of the open transaction: the broker commits them iff the transaction commits."""
        with self._state_lock:
            self._check_state(need_txn=True)
            if not hasattr(offsets, "items"):
                raise InvalidTypeError(f"offsets must be a dict {{TopicPartition: offset}}, got {offsets!r:.80}")
            tps = []
            for tp, o in offsets.items():
                o = getattr(o, "offset", o)
                if type(o) is not int or o < 0:
                    raise InvalidArgumentError(f"offset of {tp} must be an int >= 0, got {o!r}")
                tp = TopicPartition(*tp)
                tps.append(ck().TopicPartition(tp.topic, tp.partition, o))
            native = self._native_metadata(group_metadata)
            self._call("send_offsets_to_transaction", self._p.send_offsets_to_transaction, tps, native,
                       self._timeout if timeout is None else timeout)

    def _native_metadata(self, group_metadata):
        native = getattr(group_metadata, "native", None)
        if native is not None:
            return native
        gid = group_metadata if isinstance(group_metadata, str) else getattr(group_metadata, "group_id", None)
        if not isinstance(gid, str) or not gid:
            raise InvalidTypeError(f"group_metadata must be a consumer's group_metadata() or a group id, "
                                   f"got {group_metadata!r}")
        return native_group_metadata(self._log, gid)

    def commit_transaction(self, timeout=None):
        """Flush, then commit: every record of the transaction becomes visible to
        read_committed readers and its offsets are committed, all or nothing.
        ProducerFencedError if fenced."""
        with self._state_lock:
            self._check_state(need_txn=True)
            self._call("commit_transaction", self._p.commit_transaction,
                       self._timeout if timeout is None else timeout)
            self._in_txn = False

    def abort_transaction(self, timeout=None):
        """Abort: records of the transaction are never shown to read_committed readers, its
        offsets are not committed; futures of records not yet acknowledged fail with
        TransactionAbortedError."""
        with self._state_lock:
            self._check_state(need_txn=True)
            self._call("abort_transaction", self._p.abort_transaction,
                       self._timeout if timeout is None else timeout)
            self._in_txn = False

    def close(self, timeout=None):
        """Close the producer. An open transaction is left to the broker: the next producer
        with this transactional_id (or the transaction's timeout) aborts it, as in Kafka."""
        with self._state_lock:
            if self._closed:
                return
            if self._fatal is not None or self._in_txn:
                # nothing more to deliver that could count: drop what is queued
                try:
                    self._p.purge()
                except (ck().KafkaException, RuntimeError):
                    pass
            try:
                super().close(0 if (self._fatal is not None or self._in_txn) else timeout)
            except Exception:
                if self._fatal is None and not self._in_txn:
                    raise


def native_group_metadata(log, group_id):
    """confluent-kafka's consumer group metadata of `group_id` with no member (generation -1),
    for send_offsets_to_transaction given a bare group id: made by a consumer that never
    connects (it joins nothing)."""
    c = ck().Consumer(log.client_config(**{"group.id": group_id, "enable.auto.commit": False}))
    try:
        return c.consumer_group_metadata()
    finally:
        c.close()


def group_metadata_of(consumer, group_id, group_instance_id=None):
    """A GroupMetadata for `send_offsets_to_transaction` from a confluent Consumer: the group id,
    generation and member id (KIP-447) the broker checks, plus the native metadata."""
    native = consumer.consumer_group_metadata()
    generation, member = _parse_native(native, group_id)
    return GroupMetadata(group_id, generation_id=generation, member_id=member, group_instance_id=group_instance_id,
                         native=native)


def _parse_native(native, group_id):
    """(generation, member id) from librdkafka's serialized metadata ("CGMDv2:", an int32
    generation in host byte order, then the NUL-terminated group id and member id, then
    more); (-1, "") if it has another shape (the native form is what the broker gets)."""
    try:
        if not isinstance(native, bytes) or not native.startswith(b"CGMDv2:"):
            return -1, ""
        gen = int.from_bytes(native[7:11], sys.byteorder, signed=True)
        parts = native[11:].split(b"\x00")
        if len(parts) < 2 or parts[0].decode() != group_id:
            return -1, ""
        return gen, parts[1].decode()
    except UnicodeDecodeError:
        return -1, ""
