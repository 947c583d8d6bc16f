"""The transactional producer: records sent between `begin_transaction` and
`commit_transaction` become visible to read_committed readers all at once, with the consumer
offsets sent to the transaction, or (abort, crash) not at all.

Owns: the producer side of KIP-98's API (init_transactions, begin_transaction, send,
send_offsets_to_transaction, commit_transaction, abort_transaction) and buffering records of
the open transaction per partition. Everything durable (producer id/epoch, fencing, the
commit protocol, recovery) belongs to `eventlog.transactions.coordinator`.

Invariants:
- Records of a transaction are written only as transactional batches, only through the
  coordinator (under its flock, after its fencing check), so a fenced producer writes nothing.
- A partition's records are written in `send` order; `commit_transaction` writes what is
  buffered before the decision; `abort_transaction` drops what is buffered (those futures
  fail with TransactionAbortedError).
- After ProducerFencedError every call but `close` raises it again (fatal, as in Kafka).
"""
import threading
from concurrent.futures import Future

from eventlog._os.fs import now_ms as _now_ms
from eventlog.clients import partitioners as _partitioners
from eventlog.clients import serde as _serde
from eventlog.errors import (CommitFailedError, EventLogError, IllegalStateError, InvalidArgumentError, InvalidTypeError,
                             ProducerClosedError, ProducerFencedError, TransactionAbortedError)
from eventlog.record import RecordMetadata, TopicPartition
from eventlog.transactions import coordinator as _coord

_BYTES = (bytes, bytearray, memoryview)


class GroupMetadata:
    """What `send_offsets_to_transaction` needs to know of a consumer group (Kafka's
    ConsumerGroupMetadata; `Consumer.group_metadata()` returns one): its id, and for a member
    of a subscribed group its generation, member id and group instance id (KIP-447: the
    offsets of a member of an older generation are refused). `generation_id` -1 and
    `member_id` "" mean "no member": no such check. `native` is a back end's own form of it
    (confluent-kafka's, on the kafka:// back end)."""

    __slots__ = ("group_id", "generation_id", "member_id", "group_instance_id", "native")

    def __init__(self, group_id, generation_id=-1, member_id="", group_instance_id=None, native=None):
        if not isinstance(group_id, str) or not group_id:
            raise InvalidArgumentError(f"group_id must be a non-empty str, got {group_id!r}")
        if type(generation_id) is not int:
            raise InvalidArgumentError(f"generation_id must be an int (-1: no member), got {generation_id!r}")
        if not isinstance(member_id, str):
            raise InvalidArgumentError(f"member_id must be a str (\"\": no member), got {member_id!r}")
        self.group_id = group_id
        self.generation_id = generation_id
        self.member_id = member_id
        self.group_instance_id = group_instance_id
        self.native = native

    def __repr__(self):
        return (f"GroupMetadata(group_id={self.group_id!r}, generation_id={self.generation_id}, "
                f"member_id={self.member_id!r}, group_instance_id={self.group_instance_id!r})")


class TransactionalProducer:
    """A producer with a `transactional_id`. Create with
    `log.producer(transactional_id="...")`; call `init_transactions()` once, then per
    transaction `begin_transaction()`, `send(...)` (and `send_offsets_to_transaction`), and
    `commit_transaction()` or `abort_transaction()`.

    Options: transaction_timeout_ms (60000, Kafka's default: an open transaction older than
    this may be aborted by any reader or writer of the log, which fences this producer),
    partitioner, key_serializer, value_serializer, batch_size (bytes buffered per partition
    before they are written as one batch; 1 MiB)."""

    def __init__(self, log, coordinator, *, transactional_id, transaction_timeout_ms=_coord.DEFAULT_TIMEOUT_MS,
                 partitioner=None, key_serializer=None, value_serializer=None, batch_size=1 << 20,
                 member_check=None):
        self.transactional_id = _coord.check_transactional_id(transactional_id)
        self.transaction_timeout_ms = _coord.check_timeout(transaction_timeout_ms)
        if type(batch_size) is not int or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be an int >= 1 (bytes), got {batch_size!r}")
        self._log = log
        self._coord = coordinator
        self._member_check = member_check   # (group id, member id, generation) -> raises CommitFailedError
        self._abortable = None              # the error that left the open transaction only abortable
        self._partitioner = _partitioners.get_partitioner(partitioner)
        self._kser = _serde.wrap(key_serializer, "key")
        self._vser = _serde.wrap(value_serializer, "value")
        self.batch_size = batch_size
        self._lock = threading.RLock()
        self._pid = self._epoch = None
        self._in_txn = False
        self._started = False   # the open transaction has records or offsets (else it ends locally)
        self._fatal = None
        self._closed = False
        self._buf = {}    # tp -> [records], [futures], bytes

    # -- state -----------------------------------------------------------------------------
    @property
    def producer_id(self):
        return self._pid

    @property
    def producer_epoch(self):
        return self._epoch

    def _check(self, need_txn=None):
        if self._closed:
            raise ProducerClosedError(f"transactional producer {self.transactional_id!r} is closed")
        if self._fatal is not None:
            raise ProducerFencedError(str(self._fatal))
        if self._pid is None:
            raise IllegalStateError("call init_transactions() first")
        if need_txn is True and not self._in_txn:
            raise IllegalStateError("no transaction is open: call begin_transaction() first")
        if need_txn is False and self._in_txn:
            raise IllegalStateError("a transaction is already open: commit or abort it first")

    def _guard(self, fn, *args):
        try:
            return fn(*args)
        except ProducerFencedError as e:
            self._fatal = e
            self._fail_buffered(e)
            self._in_txn = False
            raise

    def init_transactions(self, timeout=None):
        """Register this producer's transactional_id: fence every older producer with the
        same id (their sends and commits raise ProducerFencedError) and complete or abort any
        transaction they left open. Call once, before the first transaction. `timeout`
        (seconds, None: no limit) bounds the wait while another producer with this id holds
        its lock (committing or recovering): KafkaTimeoutError, and init_transactions() may
        be called again."""
        with self._lock:
            if self._closed:
                raise ProducerClosedError(f"transactional producer {self.transactional_id!r} is closed")
            if self._pid is not None:
                raise IllegalStateError("init_transactions() was already called on this producer")
            if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                        or timeout < 0):
                raise InvalidArgumentError(f"timeout must be a number of seconds >= 0 or None, got {timeout!r}")
            self._pid, self._epoch = self._coord.init(self.transactional_id, self.transaction_timeout_ms,
                                                      lock_timeout=timeout)

    def begin_transaction(self):
        """Start a transaction: what is sent until commit_transaction() commits together."""
        with self._lock:
            self._check(need_txn=False)
            self._in_txn = True
            self._started = False

    # -- sending ---------------------------------------------------------------------------
    def send(self, topic, value=None, key=None, headers=None, partition=None, timestamp_ms=None):
        """Buffer a record in the open transaction; return a Future resolved with its
        RecordMetadata once written (at the latest at commit_transaction)."""
        with self._lock:
            self._check(need_txn=True)
            if self._kser is not None:
                key = self._kser(key)
            if self._vser is not None:
                value = self._vser(value)
            for what, x in (("key", key), ("value", value)):
                if x is not None and not isinstance(x, _BYTES):
                    raise InvalidTypeError(f"{what} must be bytes or None, got {type(x).__name__} "
                                           "(encode it, or give the producer a serializer)")
            t = self._log.topic(topic)
            n = t.partition_count
            if partition is None:
                partition = _partitioners.check_partition(self._partitioner(key, n), n, self._partitioner)
            else:
                partition = _partitioners.check_partition(partition, n, "partition=")
            if "compact" in t.config.cleanup_policy:
                raise InvalidArgumentError(
                    f"topic {topic!r} is compacted (cleanup_policy={t.config.cleanup_policy!r}): transactions "
                    "are supported on cleanup_policy='delete' topics only")
            tp = TopicPartition(topic, partition)
            b = self._buf.get(tp)
            if b is None:
                b = self._buf[tp] = [[], [], 0]
            fut = Future()
            if timestamp_ms is None:
                timestamp_ms = _now_ms()
            b[0].append((key, value, tuple(headers) if headers else None, timestamp_ms))
            b[1].append(fut)
            b[2] += (len(key) if key else 0) + (len(value) if value else 0) + 16
            self._started = True
            if b[2] >= self.batch_size:
                self._guard(self._write, [tp])
            return fut

    def flush(self):
        """Write every buffered record of the open transaction (still invisible to
        read_committed readers until the commit)."""
        with self._lock:
            self._check()
            if self._buf:
                self._guard(self._write, list(self._buf))

    def _write(self, tps):
        batches = {tp: self._buf[tp][0] for tp in tps}
        try:
            ranges = self._coord.append(self.transactional_id, self._pid, self._epoch, batches)
        except EventLogError as e:
            if not isinstance(e, ProducerFencedError):
                self._fail_buffered(e, tps)
            raise
        for tp in tps:
            recs, futs, _size = self._buf.pop(tp)
            r = ranges[tp]
            for off, rec, fut in zip(r, recs, futs):
                fut.set_result(RecordMetadata(tp.topic, tp.partition, off, rec[3]))

    def _fail_buffered(self, err, tps=None):
        for tp in list(self._buf if tps is None else tps):
            for fut in self._buf.pop(tp)[1]:
                fut.set_exception(err)

    def send_offsets_to_transaction(self, offsets, group_metadata, timeout=None):
        """Make committing `offsets` ({TopicPartition: next offset to read}, values may be
        OffsetAndMetadata-like objects with `.offset` and `.metadata`, the metadata is
        committed with the offset) for the consumer group of `group_metadata` (a
        `GroupMetadata`, a consumer's `group_metadata()`, or a group id) part of the open
        transaction: they are committed if and only if it commits."""
        with self._lock:
            self._check(need_txn=True)
            gid = group_metadata if isinstance(group_metadata, str) else getattr(group_metadata, "group_id", None)
            if not isinstance(gid, str) or not gid:
                raise InvalidTypeError(f"group_metadata must be a consumer's group_metadata() or a group id, "
                                       f"got {group_metadata!r}")
            if self._member_check is not None and isinstance(group_metadata, GroupMetadata):
                try:   # KIP-447: a zombie member's offsets are refused; the transaction must abort
                    self._member_check(gid, group_metadata.member_id, group_metadata.generation_id)
                except CommitFailedError as e:
                    e.requires_abort = True      # as the kafka:// back end's (txn_requires_abort)
                    self._abortable = e
                    raise
            if not hasattr(offsets, "items"):
                raise InvalidTypeError(f"offsets must be a dict {{TopicPartition: offset}}, got {offsets!r:.80}")
            clean = {}
            meta = {}
            for tp, o in offsets.items():
                tp = TopicPartition(*tp)
                if hasattr(o, "metadata"):
                    md = o.metadata
                    if md is not None and not isinstance(md, str):
                        raise InvalidTypeError(f"metadata of {tp} must be a str or None, got {md!r:.80}")
                    meta[tp] = md
                o = getattr(o, "offset", o)
                if type(o) is not int or o < 0:
                    raise InvalidArgumentError(f"offset of {tp} must be an int >= 0, got {o!r}")
                clean[tp] = o
            self._started = True
            self._guard(self._coord.add_offsets, self.transactional_id, self._pid, self._epoch, gid, clean, meta)

    def commit_transaction(self, timeout=None):
        """Write what is buffered, then commit: every record of the transaction becomes
        visible to read_committed readers, and the offsets sent to it are committed, all or
        nothing (a crash midway is finished by recovery). ProducerFencedError if fenced.
        A transaction that sent nothing ends here, without the coordinator (as Kafka's clients
        end it)."""
        with self._lock:
            self._check(need_txn=True)
            if self._abortable is not None:   # as Kafka: the error again, until abort_transaction()
                raise self._abortable
            if not self._started:
                self._in_txn = False
                return
            if self._buf:
                self._guard(self._write, list(self._buf))
            self._guard(self._coord.end, self.transactional_id, self._pid, self._epoch, True)
            self._in_txn = False

    def abort_transaction(self, timeout=None):
        """Abort: records of the transaction are never shown to read_committed readers, its
        offsets are not committed; buffered records' futures fail with TransactionAbortedError."""
        with self._lock:
            self._check(need_txn=True)
            if not self._started:
                self._in_txn = False
                return
            self._fail_buffered(TransactionAbortedError(
                f"the transaction of {self.transactional_id!r} was aborted before this record was written"))
            self._guard(self._coord.end, self.transactional_id, self._pid, self._epoch, False)
            self._in_txn = False
            self._abortable = None

    def close(self, timeout=None):
        """Close the producer. An open transaction is left as it is: the next producer with
        this transactional_id (or its timeout) aborts it, as in Kafka."""
        with self._lock:
            if self._closed:
                return
            self._fail_buffered(TransactionAbortedError(
                f"producer {self.transactional_id!r} was closed with the transaction open"))
            self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
