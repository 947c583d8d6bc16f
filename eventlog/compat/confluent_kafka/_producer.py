"""confluent_kafka.Producer over an eventlog directory. With ``transactional.id`` set, produce
goes through eventlog's TransactionalProducer and the transactional API follows librdkafka's
state machine (_txn)."""
from __future__ import annotations

import collections
import threading
import time
import warnings

from eventlog import errors as _el
from eventlog.clients import partitioners as _partitioners
from eventlog.compat import _common
from eventlog.compat.confluent_kafka import _txn
from eventlog.compat.confluent_kafka._config import (_NETWORK_COMMON, _REFUSED_COMMON, _bool, _bytes, _cfg_error, _headers, _int,
                      _merge_conf, _open)
from eventlog.compat.confluent_kafka._guard import closed_guard
from eventlog.compat.confluent_kafka._stats import Stats
from eventlog.compat.confluent_kafka._metadata import _cluster_metadata
from eventlog.record import TopicPartition as _TP
from eventlog.compat.confluent_kafka._types import (OFFSET_INVALID, TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE, KafkaError,
                     KafkaException, Message, _exc, _from_el)



_PRODUCER_KNOWN = {
    "partitioner", "linger.ms", "queue.buffering.max.ms", "batch.size", "batch.num.messages",
    "queue.buffering.max.messages", "queue.buffering.max.kbytes", "message.max.bytes", "on_delivery",
    "delivery.report.only.error", "dr_cb", "dr_msg_cb", "acks", "request.required.acks",
    "enable.idempotence", "compression.type", "compression.codec", "compression.level",
    "message.timeout.ms", "delivery.timeout.ms", "retries", "message.send.max.retries",
    "queue.buffering.backpressure.threshold", "sticky.partitioning.linger.ms",
    "enable.gapless.guarantee", "partitioner_cb", "msg_order_cmp", "produce.offset.report",
    "transaction.timeout.ms", "enable.delivery.reports", "produce.request.max.partitions",
    "request.timeout.ms", "queuing.strategy", "transactional.id",
}
_PRODUCER_REFUSED = dict(_REFUSED_COMMON)
_PARTITIONERS = ("random", "consistent", "consistent_random", "murmur2", "murmur2_random", "fnv1a",
                 "fnv1a_random")


@closed_guard("Producer has been closed", exempt=("close",), handle=("list_topics",))
class Producer:
    """confluent-kafka's Producer writing to an eventlog directory."""

    def __init__(self, conf=None, **kwargs):
        c = _merge_conf(conf, kwargs, "Producer")
        try:
            _common.split_config(c, _PRODUCER_KNOWN, _NETWORK_COMMON, _PRODUCER_REFUSED, "Producer")
        except ValueError as e:
            raise _cfg_error(e) from None
        part = c.get("partitioner", "consistent_random")
        if part not in _PARTITIONERS:
            raise _cfg_error(f'Invalid value for configuration property "partitioner": {part}')
        if c.get("partitioner_cb") is not None:
            raise _cfg_error("partitioner_cb is not supported by confluent-kafka's Python client either")
        self._dr_cb = c.get("on_delivery", c.get("dr_cb", c.get("dr_msg_cb")))
        self._dr_only_error = _bool(c, "delivery.report.only.error", False)
        self._dr_enabled = _bool(c, "enable.delivery.reports", True)
        self._max_msgs = _int(c, "queue.buffering.max.messages", 100000)
        self._max_bytes = _int(c, "message.max.bytes", 1000000)
        self._error_cb = c.get("error_cb")
        self._stats = Stats(c.get("stats_cb"), _int(c, "statistics.interval.ms", 0),
                            str(c.get("client.id", "rdkafka")), "producer")
        linger = float(c.get("linger.ms", c.get("queue.buffering.max.ms", 5)))
        batch = max(1, _int(c, "batch.size", 1000000))
        txn_id = c.get("transactional.id") or None
        txn_timeout = self._txn_conf(c, txn_id)
        self._ref = _open(c, "Producer")
        self._txn = None
        self._p = None
        try:
            if txn_id is None:
                self._p = self._ref.log.producer(
                    partitioner=part, linger_ms=linger, batch_size=batch,
                    buffer_memory=max(1, _int(c, "queue.buffering.max.kbytes", 1048576)) * 1024,
                    max_block_ms=0)
            else:
                # the facade decides when records are written (_txn), so the core producer never
                # writes on its own from inside send()
                txp = self._ref.log.producer(transactional_id=str(txn_id), transaction_timeout_ms=txn_timeout,
                                             batch_size=1 << 62)
                self._partitioner = _partitioners.get_partitioner(part)
                self._txn = _txn.Transactions(txp, self._serve_until_done, linger / 1000.0, batch)
        except Exception:
            self._ref.release()
            raise
        self._pending = 0            # produced, report not yet served
        self._reports = collections.deque()
        self._cv = threading.Condition(threading.Lock())
        self._known = set()
        self._closed = False

    @staticmethod
    def _txn_conf(c, txn_id):
        """transaction.timeout.ms (librdkafka's range and default), and the settings a
        transactional producer needs, checked as librdkafka checks them."""
        timeout = _int(c, "transaction.timeout.ms", 60000)
        if not 1000 <= timeout <= 2147483647:
            raise _cfg_error(f'Configuration property "transaction.timeout.ms" value {timeout} is outside '
                             "allowed range 1000..2147483647")
        if txn_id is None:
            return timeout
        if not _bool(c, "enable.idempotence", True):
            raise _cfg_error("Failed to create producer: `transactional.id` requires `enable.idempotence=true`")
        acks = str(c.get("acks", c.get("request.required.acks", "all"))).lower()
        if acks not in ("all", "-1"):
            raise _cfg_error("Failed to create producer: `acks` must be set to `all` when `enable.idempotence` "
                             "is true")
        return timeout

    def __repr__(self):
        return f"<eventlog.compat.confluent_kafka.Producer {self._ref.log.path!r}>"

    def __len__(self):
        return 0 if self._closed else self._pending

    def __bool__(self):
        return True

    def _check(self):
        if self._closed:
            raise RuntimeError("Producer has been closed")

    def _topic(self, topic):
        if topic in self._known:
            return
        try:
            self._ref.topic(topic, create=True)
        except _el.InvalidTopicError:
            raise _exc(KafkaError._INVALID_ARG, f"Unable to produce message: invalid topic {topic!r}") from None
        except _el.UnknownTopicError:
            raise _exc(KafkaError._UNKNOWN_TOPIC, "Unable to produce message: Local: Unknown topic") from None
        self._known.add(topic)

    def produce(self, topic, value=None, key=None, partition=-1, on_delivery=None, timestamp=0,
                headers=None, callback=None):
        self._check()
        if not isinstance(topic, str):
            raise TypeError("topic must be str")
        value = _bytes(value, "value")
        key = _bytes(key, "key")
        hs = _headers(headers)
        cb = on_delivery if on_delivery is not None else callback
        if cb is None:
            cb = self._dr_cb
        if self._pending >= self._max_msgs:
            raise BufferError("Local: Queue full")
        size = (len(value) if value else 0) + (len(key) if key else 0) + \
            (sum(len(k) + len(v or b"") for k, v in hs) if hs else 0)
        if size > self._max_bytes:
            raise _exc(KafkaError.MSG_SIZE_TOO_LARGE,
                       "Unable to produce message: Broker: Message size too large")
        if self._txn is not None:
            self._txn.check_produce()
        first = topic not in self._known
        self._topic(topic)
        if partition is None or partition == -1:
            partition = None
        else:
            n = self._ref.log.topic(topic).config.partitions
            if not isinstance(partition, int) or not 0 <= partition < n:
                if first and isinstance(partition, int):
                    # librdkafka does not know the topic's partitions before its first produce:
                    # the message is queued and fails in its delivery report
                    err = KafkaError(KafkaError._UNKNOWN_PARTITION, "Local: Unknown partition")
                    with self._cv:
                        self._pending += 1
                        self._reports.append((None, cb, key, value, (topic, partition, err)))
                        self._cv.notify_all()
                    return
                raise _exc(KafkaError._UNKNOWN_PARTITION, "Unable to produce message: Local: Unknown partition")
        if self._txn is not None:
            self._produce_txn(topic, value, key, hs, partition, timestamp, cb, size)
            return
        try:
            f = self._p.send(topic, value=value, key=key, headers=hs, partition=partition,
                             timestamp_ms=timestamp if timestamp else None)
        except _el.BufferFullError:
            raise BufferError("Local: Queue full") from None
        except _el.EventLogError as e:
            raise _from_el(e, "Unable to produce message: ") from e
        with self._cv:
            self._pending += 1
        f.add_done_callback(lambda fut, cb=cb, k=key, v=value: self._done(fut, cb, k, v))

    def _produce_txn(self, topic, value, key, hs, partition, timestamp, cb, size):
        """Buffer a record in the open transaction (written by _txn's rules); its delivery
        report is queued when it is written or fails."""
        if partition is None:
            n = self._ref.log.topic(topic).config.partitions
            partition = _partitioners.check_partition(self._partitioner(key, n), n, self._partitioner)
        try:
            f = self._txn.txp.send(topic, value=value, key=key, headers=hs, partition=partition,
                                   timestamp_ms=timestamp if timestamp else None)
        except _el.EventLogError as e:
            raise _from_el(e, "Unable to produce message: ") from e
        with self._cv:
            self._pending += 1
        f.add_done_callback(lambda fut, cb=cb, k=key, v=value, tp=(topic, partition):
                            self._done_txn(fut, cb, k, v, tp))
        self._txn.produced(size)

    def _done_txn(self, fut, cb, key, value, tp):
        """A record of the transaction was written (or failed): queue its report."""
        e = fut.exception()
        if e is None:
            md = fut.result()
            report = (tp[0], tp[1], md.offset, (TIMESTAMP_CREATE_TIME, md.timestamp_ms), None)
        else:
            if isinstance(e, (_el.TransactionAbortedError, _el.ProducerFencedError)):
                # never written: librdkafka purges what is queued when the transaction ends
                err = KafkaError(KafkaError._PURGE_QUEUE)
            else:
                err = _from_el(e).args[0]
            report = (tp[0], tp[1], OFFSET_INVALID, (TIMESTAMP_NOT_AVAILABLE, 0), err)
        with self._cv:
            self._reports.append((None, cb, key, value, report))
            self._cv.notify_all()

    def _serve_until_done(self, timeout=None):
        """Serve reports until none is outstanding (or `timeout` s passed)."""
        deadline = _common.deadline_after(timeout if timeout is None or timeout >= 0 else None)
        while self._pending:
            left = _common.left(deadline)
            if left is not None and left <= 0:
                break
            self._serve(min(left, 0.1) if left is not None else 0.1)

    def _done(self, fut, cb, key, value):
        """(eventlog's sender thread) queue a delivery report for poll()/flush()."""
        with self._cv:
            self._reports.append((fut, cb, key, value, None))
            self._cv.notify_all()

    def _serve(self, timeout):
        """Serve queued reports, waiting up to `timeout` s (None: forever) for the first."""
        deadline = _common.deadline_after(timeout)
        with self._cv:
            while not self._reports:
                left = _common.left(deadline)
                if left is not None and left <= 0:
                    return 0
                self._cv.wait(left if left is not None else 0.5)
            reports = list(self._reports)
            self._reports.clear()
        batches = set()
        for fut, cb, key, value, failed in reports:
            with self._cv:
                self._pending -= 1
            if failed is not None and len(failed) == 5:   # a record of a transaction (_done_txn)
                topic, partition, offset, ts, err = failed
                batches.add((topic, partition, err is None))
                if err is None and self._stats.enabled:
                    self._stats.sent(_TP(topic, partition), (len(key) if key else 0) + (len(value) if value else 0))
                if cb is not None and self._dr_enabled and not (err is None and self._dr_only_error):
                    cb(err, Message(topic, partition, offset, key, value, None, err, ts, 0.0,
                                    0 if err is None else None))
                continue
            if failed is not None:      # refused before it was written (see produce)
                batches.add(id(failed))
                if cb is not None and self._dr_enabled:
                    topic, partition, err = failed
                    cb(err, Message(topic, partition, OFFSET_INVALID, key, value, None, err,
                                    (TIMESTAMP_NOT_AVAILABLE, 0), 0.0, None))
                continue
            # librdkafka serves one delivery-report event per produce batch
            batches.add(id(fut[0]))
            if self._stats.enabled and fut.exception() is None:
                self._stats.sent(fut[0].tp, (len(key) if key else 0) + (len(value) if value else 0))
            if cb is None or not self._dr_enabled:
                continue
            b = fut[0]
            tp = b.tp
            e = fut.exception()
            if e is None:
                md = fut.result()
                if self._dr_only_error:
                    continue
                msg = Message(tp.topic, tp.partition, md.offset, key, value, None, None,
                              (TIMESTAMP_CREATE_TIME, md.timestamp_ms), 0.0, 0)
                cb(None, msg)
            else:
                err = _from_el(e).args[0]
                msg = Message(tp.topic, tp.partition, OFFSET_INVALID, key, value, None, err,
                              (TIMESTAMP_NOT_AVAILABLE, 0), 0.0, None)
                cb(err, msg)
        return len(batches)

    def poll(self, timeout=None):
        """Serve delivery reports; wait up to `timeout` s for one (None or -1: forever)."""
        self._check()
        if timeout is not None and timeout < 0:
            timeout = None
        if self._txn is not None:
            self._txn.due()
            self._txn.raise_pending()
        if timeout is None and not self._pending and not self._stats.enabled:
            timeout = 0  # nothing in flight could ever produce an event
        if not self._stats.enabled:
            return self._serve(timeout)
        deadline = _common.deadline_after(timeout)
        while True:
            left = _common.left(deadline)
            n = self._serve(min(self._stats.due_in(), left) if left is not None else self._stats.due_in())
            n += self._stats.maybe_emit(self._stats_offsets, self._pending)
            if n or (deadline is not None and time.monotonic() >= deadline):
                return n

    def _stats_offsets(self):
        """{tp: {lo_offset, hi_offset}} of the partitions this producer wrote to."""
        out = {}
        for tp in self._stats.tx:
            try:
                part = self._ref.log.topic(tp.topic).partition(tp.partition)
                out[tp] = {"lo_offset": part.start_offset, "hi_offset": part.end_offset}
            except _el.EventLogError:
                continue
        return out

    def flush(self, timeout=None):
        """Write everything and serve every report; returns messages still in the queue."""
        self._check()
        if timeout is not None and timeout < 0:
            timeout = None
        deadline = _common.deadline_after(timeout)
        if self._txn is not None:
            self._txn.write("Failed to produce")
            self._txn.raise_pending()
        else:
            try:
                self._p.flush(timeout)
            except _el.KafkaTimeoutError:
                pass
        while self._pending:
            left = _common.left(deadline)
            if left is not None and left <= 0:
                break
            self._serve(min(left, 0.1) if left is not None else 0.1)
        return self._pending

    def purge(self, in_queue=True, in_flight=True, blocking=True):
        """eventlog writes every produced message (there is no queue to take back): flushes."""
        self._check()
        if self._txn is not None:
            self._txn.write("Failed to produce")
        else:
            self._p.flush()

    def list_topics(self, topic=None, timeout=-1):
        self._check()
        return _cluster_metadata(self._ref.log, topic)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self, timeout=None):
        """Flush (up to `timeout` seconds) and close; True, as confluent-kafka's."""
        if self._closed:
            return True
        try:
            if self._txn is not None and self._txn.in_transaction():
                try:   # as confluent-kafka: an open transaction is aborted
                    self._txn.abort(timeout)
                except KafkaException as e:
                    warnings.warn(f"Producer abort_transaction failed during close: {e.args[0].str()}",
                                  RuntimeWarning, stacklevel=2)
            try:
                self.flush(timeout)
            except KafkaException:
                pass   # a fatal error a write found: nothing is left to deliver
        finally:
            self._closed = True
            try:
                (self._p if self._txn is None else self._txn.txp).close(timeout)
            finally:
                self._ref.release()
        return True

    def _transactions(self):
        if self._txn is None:
            raise _exc(KafkaError._NOT_CONFIGURED, "The Transactional API requires transactional.id to be configured")
        return self._txn

    def init_transactions(self, timeout=None):
        """Register this producer's transactional.id: fences older producers with the same id
        and completes or aborts the transaction they left open. Call once, first. `timeout`
        (s; None or -1: no limit) bounds the wait while another producer with this id is
        committing or recovering: KafkaException(_TIMED_OUT, retriable), call it again."""
        self._check()
        self._transactions().init(timeout)

    def begin_transaction(self):
        """Start a transaction: what is produced until commit_transaction() commits together."""
        self._check()
        self._transactions().begin()

    def send_offsets_to_transaction(self, positions, group_metadata, timeout=None):
        """Commit `positions` (a list of TopicPartition with the next offsets to read) for the
        consumer group of `group_metadata` (Consumer.consumer_group_metadata()) if and only if
        the transaction commits."""
        self._check()
        self._transactions().send_offsets(positions, group_metadata)

    def commit_transaction(self, timeout=None):
        """Write what is buffered, serve its delivery reports, and commit the transaction.
        KafkaException: txn_requires_abort() if a record failed (call abort_transaction),
        fatal() if this producer was fenced."""
        self._check()
        self._transactions().commit(timeout)

    def abort_transaction(self, timeout=None):
        """Abort the transaction: its records are never shown to read_committed consumers;
        records not written yet get _PURGE_QUEUE delivery reports (served here)."""
        self._check()
        self._transactions().abort(timeout)

    def set_sasl_credentials(self, username, password):
        pass

    def produce_batch(self, topic, messages, partition=-1, callback=None, on_delivery=None):
        """Produce each dict of `messages` (value, key, partition, callback, headers) to
        `topic`; returns how many were queued. A message that could not be queued gets its
        error as ``msg["_error"]`` (a KafkaError). The whole list is checked first: a bad
        message raises TypeError naming its index and nothing is produced."""
        if not isinstance(topic, str):
            raise TypeError(f"topic must be a str, got {type(topic).__name__}")
        if not isinstance(messages, list):
            raise TypeError("messages must be a list")
        if isinstance(partition, bool) or not isinstance(partition, int):
            raise TypeError(f"partition must be int, got {type(partition).__name__}")
        if on_delivery is None:
            on_delivery = callback
        for i, m in enumerate(messages):
            if not isinstance(m, dict):
                raise TypeError(f"Message at index {i} must be a dict")
            for field in ("value", "key"):
                v = m.get(field)
                if v is not None and not isinstance(v, (bytes, str)):
                    raise TypeError(f"Message {field} at index {i} must be bytes or str")
            p = m.get("partition", partition)
            if isinstance(p, bool) or not isinstance(p, int):
                raise TypeError(f"Message partition at index {i} must be int")
            if m.get("timestamp"):
                raise NotImplementedError("Message timestamps are not currently supported in produce_batch")
        n = 0
        for m in messages:
            try:
                self.produce(topic, m.get("value"), m.get("key"), m.get("partition", partition),
                             m.get("callback", on_delivery), 0, m.get("headers"))
                n += 1
            except (KafkaException, BufferError) as e:
                m["_error"] = e.args[0] if isinstance(e, KafkaException) else KafkaError(KafkaError._QUEUE_FULL)
        return n


# -- consumer -------------------------------------------------------------------------------------
