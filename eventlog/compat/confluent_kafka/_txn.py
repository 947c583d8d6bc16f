"""The transactional side of confluent_kafka.Producer (``transactional.id`` set): librdkafka's
transaction state machine over eventlog's `TransactionalProducer`.

Rules kept (librdkafka's, checked against the real client on a real Kafka broker):
- init_transactions(timeout) that times out (another producer with the id holds its lock,
  committing or recovering) raises _TIMED_OUT, retriable; until init_transactions is called
  again and succeeds, the other transactional calls raise _CONFLICT, retriable.
- States Init -> (init_transactions) Ready -> (begin_transaction) InTransaction ->
  (commit_transaction / abort_transaction) Ready. A call not valid in the current state raises
  _STATE "Operation not valid in state <State>" (not retriable, not fatal, no abort needed);
  produce outside a transaction raises _STATE "Unable to produce message: Local: Erroneous state".
- A failure writing records of the transaction (other than fencing) is an *abortable* error:
  the failed records get their error in their delivery reports; from then on begin, commit and
  send_offsets raise it with txn_requires_abort() True, produce raises _STATE, and
  abort_transaction clears it.
- Fencing (a newer producer with the same transactional.id called init_transactions) is
  *fatal*: _FENCED with fatal() True from every transactional call from then on; when a
  write done by produce/poll/flush finds it, the next poll() or flush() raises it once;
  produce raises _FATAL.
- Records are written (and reported delivered, with their offsets) when `linger.ms` has
  passed at a poll, when `batch.size` bytes are buffered, on flush() and at the latest by
  commit_transaction(), which serves their reports before committing. Records still buffered
  when the transaction aborts get _PURGE_QUEUE reports, served by abort_transaction().
"""
from __future__ import annotations

import time

from eventlog import errors as _el
from eventlog.compat.confluent_kafka._types import KafkaError, KafkaException, _ConsumerGroupMetadata, _from_el

INIT, READY, IN_TXN, ABORTABLE, FATAL = "Init", "Ready", "InTransaction", "AbortableError", "FatalError"
_FENCED_REASON = "Local: This instance has been fenced by a newer instance"


def _state_error(state):
    return KafkaException(KafkaError(KafkaError._STATE, f"Operation not valid in state {state}",
                                     retriable=False))


class Transactions:
    """The transaction state of one facade Producer. `txp` is the core TransactionalProducer;
    `serve_all()` serves every queued delivery report (the Producer's)."""

    def __init__(self, txp, serve_all, linger_s, batch_bytes):
        self.txp = txp
        self.state = INIT
        self._serve_all = serve_all
        self._linger = linger_s
        self._batch_bytes = batch_bytes
        self._error = None          # the KafkaError of the AbortableError/FatalError state
        self._init_timed_out = False
        self._open_when_fatal = False   # a transaction was open when the fatal error came
        self._raise_once = None     # a fatal error poll()/flush() raises (once)
        self._buffered = 0          # bytes produced since the last write
        self._since = None          # monotonic time of the first record since the last write

    # -- errors ------------------------------------------------------------------------------
    def _fenced(self, what):
        if self.state != FATAL:
            self._open_when_fatal = self.state in (IN_TXN, ABORTABLE)
            self.state = FATAL
            self._error = KafkaError(KafkaError._FENCED, f"{what}: {_FENCED_REASON}", fatal=True, retriable=False)
        return KafkaException(self._error)

    def _require(self, *states):
        if self._init_timed_out:
            raise KafkaException(KafkaError(KafkaError._CONFLICT, "Conflicting init_transactions API call is "
                                            "already in progress: call init_transactions() again",
                                            retriable=True))
        if self.state in (FATAL, ABORTABLE) and self.state not in states:
            raise KafkaException(self._error)
        if self.state not in states:
            raise _state_error(self.state)

    # -- the API -------------------------------------------------------------------------------
    def init(self, timeout=None):
        if not self._init_timed_out:
            self._require(INIT)
        if timeout is not None and timeout < 0:
            timeout = None
        try:
            self.txp.init_transactions(timeout)
        except _el.KafkaTimeoutError as e:
            self._init_timed_out = True
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"Failed to initialize Producer ID: {e}",
                                            retriable=True)) from e
        except _el.EventLogError as e:
            raise _from_el(e, "Failed to initialize transactions: ") from e
        self._init_timed_out = False
        self.state = READY

    def begin(self):
        self._require(READY)
        self.txp.begin_transaction()
        self.state = IN_TXN

    def check_produce(self):
        """Raise what librdkafka's produce raises outside an open transaction."""
        if self.state == IN_TXN:
            return
        if self.state == FATAL:
            raise KafkaException(KafkaError(KafkaError._FATAL, "Unable to produce message: Local: Fatal error"))
        raise KafkaException(KafkaError(KafkaError._STATE, "Unable to produce message: Local: Erroneous state"))

    def produced(self, size):
        """A record of `size` bytes was buffered: write when batch.size is reached."""
        if self._since is None:
            self._since = time.monotonic()
        self._buffered += size
        if self._buffered >= self._batch_bytes:
            self.write("Failed to produce")

    def write(self, what):
        """Write what is buffered; a failure moves to AbortableError or FatalError (the
        records' futures fail, so their reports carry the error). True if it wrote fine."""
        self._buffered = 0
        self._since = None
        if self.state != IN_TXN:
            return False
        try:
            self.txp.flush()
        except _el.ProducerFencedError:
            self._raise_once = self._fenced("Failed to add partitions to transaction")
            return False
        except _el.EventLogError as e:
            err = _from_el(e).args[0]
            self.state = ABORTABLE
            self._error = KafkaError(err.code(), f"Failed to write records of the transaction: {e}: current "
                                                 "transaction must be aborted", txn_requires_abort=True,
                                     retriable=False)
            return False
        return True

    def due(self):
        """At a poll: write if the first buffered record is linger.ms old."""
        if self._since is not None and time.monotonic() - self._since >= self._linger:
            self.write("Failed to produce")

    def raise_pending(self):
        """(poll/flush) raise a fatal error a write found, once."""
        e, self._raise_once = self._raise_once, None
        if e is not None:
            raise e

    def send_offsets(self, offsets, group_metadata):
        if not isinstance(offsets, list) or not all(hasattr(p, "topic") and hasattr(p, "offset") for p in offsets):
            raise TypeError("requires list of TopicPartition")
        if not isinstance(group_metadata, _ConsumerGroupMetadata):
            raise TypeError(f"expected the consumer's consumer_group_metadata(), {type(group_metadata).__name__} "
                            "found")
        self._require(IN_TXN)
        # as librdkafka: partitions without a valid offset are left out; none left is a no-op
        valid = {(p.topic, p.partition): p.offset for p in offsets if p.offset >= 0}
        if not valid:
            return
        try:
            self.txp.send_offsets_to_transaction(valid, group_metadata.group_id)
        except _el.ProducerFencedError:
            raise self._fenced("Failed to add offsets to transaction") from None
        except _el.EventLogError as e:
            raise _from_el(e, "Failed to add offsets to transaction: ") from e

    def commit(self, timeout=None):
        self._require(IN_TXN)
        self.write("Failed to commit transaction")
        self._serve_all(timeout)
        self.raise_pending_silently()
        self._require(IN_TXN)
        try:
            self.txp.commit_transaction()
        except _el.ProducerFencedError:
            raise self._fenced("Failed to end transaction") from None
        except _el.EventLogError as e:
            raise _from_el(e, "Failed to commit transaction: ") from e
        self.state = READY

    def raise_pending_silently(self):
        """An API call reports the fatal error itself: poll/flush need not raise it again."""
        self._raise_once = None

    def abort(self, timeout=None):
        self._require(IN_TXN, ABORTABLE)
        self._buffered = 0
        self._since = None
        try:
            self.txp.abort_transaction()    # buffered records' futures fail: _PURGE_QUEUE reports
        except _el.ProducerFencedError:
            self._serve_all(timeout)
            raise self._fenced("Failed to end transaction") from None
        except _el.EventLogError as e:
            raise _from_el(e, "Failed to abort transaction: ") from e
        self._serve_all(timeout)
        self.state = READY
        self._error = None

    def in_transaction(self):
        """A transaction is open (close() aborts it; after a fatal error that abort fails)."""
        return self.state in (IN_TXN, ABORTABLE) or (self.state == FATAL and self._open_when_fatal)
