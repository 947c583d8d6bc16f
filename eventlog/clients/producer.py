"""The Producer: `send` one record at a time, written to partitions in batches behind the scenes.

Owns: placing records in partitions (partitioners), accumulating them per partition,
writing each partition's accumulated records as one batch (when `batch_size` bytes are
reached, `linger_ms` has passed, or on `flush`/`close`), delivery futures, and bounding the
memory held by records not yet written (`buffer_memory`, `max_block_ms`).

Invariants:
- Records of one partition are written in the order `send` accepted them (one sender thread
  writes a partition's batches in order; `send` appends under one lock).
- A future resolves only after its batch is in the log (and fsynced with fsync="batch"),
  with the record's offset, or with an EventLogError; never both, never twice.
- Per record, `send` does a few list appends and builds one small tuple (`RecordFuture`);
  everything costly (futures' events, metadata objects, encoding) is per batch or lazy. A
  sealed batch holds its records laid out as columns (`_Batch.lay_out`), not their objects.
"""
import atexit
import os
import queue
import threading
import time
import weakref
from concurrent.futures import CancelledError  # noqa: F401  (re-exported for users)

from eventlog.storage import codec as _codec
from eventlog._os.clock import check_clock
from eventlog._os.fs import check_usable, fork_generation, release_in_forked_child
from eventlog._os.fs import now_ms as _now_ms
from eventlog.clients import partitioners as _partitioners
from eventlog.clients import serde as _serde
from eventlog.errors import (BufferFullError, EventLogError, ForkedProcessError, IllegalStateError, InvalidArgumentError,
                     InvalidTypeError, KafkaTimeoutError, ProducerClosedError, RecordTooLargeError,
                     UnknownTopicError)
from eventlog.record import RecordMetadata, TopicPartition

_RECORD_OVERHEAD = 8  # bytes of length columns per record, for batch_size accounting
# The sender merges the sealed batches of a partition into one on-disk batch of at most this
# many bytes of records. 256 KiB, measured (200,000 records of 100 bytes, 4 partitions, then
# Consumer.poll(max_records=10000) over them; bench/producer.py --replay): as fast to write as
# 1 MiB (a write's fixed costs are already spread over ~2,000 records) and replayed ~20-30%
# faster with today's reader (storage.reader, which reads in chunks of
# storage.segment.READ_CHUNK = 256 KiB); 64 KiB costs the writer more writes, 1 MiB and
# 4 MiB cost the reader. Measure again when the reader changes.
_MAX_WRITE = 256 << 10
# ... and at most segment_bytes / _SEGMENT_SHARE of them: a partition rolls its segment when
# the next batch does not fit, so with batches of at most 1/8 of segment_bytes every segment
# is filled to at least 7/8 of its size before it rolls, and the active segment (which
# compaction and retention never touch) holds at most segment_bytes. Default segments
# (64 MiB) keep the _MAX_WRITE bound: only small segments get smaller merged batches.
_SEGMENT_SHARE = 8
_MAX_TS = (1 << 63) - 1




class _Batch:
    """Records accumulated for one partition, and, once written, their outcome.

    While open, its records are two lists (`keys`, `values`: `send` appends to them). When it
    is sealed (`lay_out`, under the producer's lock) they become two `codec.Column`s, the
    lengths and the bytes of the keys and of the values back to back, made in a few C-level
    passes while the records are still in the CPU's caches. The sender then writes them
    without touching a record object (by then long out of the caches), and the sealed
    batches waiting for it hold no lists of record objects for the cyclic GC to traverse.
    Measured (1M keyed sends, 4 partitions, CPU time per record): sealing costs `send` ~30 ns,
    the sender saves ~50-70 ns; with unique values (compare.sh's workload) the GC's share of
    the run fell from ~4% to ~1%."""

    __slots__ = ("tp", "keys", "values", "kcol", "vcol", "n", "headers", "timestamps", "room", "size",
                 "created", "ts", "base", "error", "done", "_event", "callbacks", "sticky")

    def __init__(self, tp, now_ms, size=0, created=0.0):
        self.tp = tp
        self.keys = []
        self.values = []
        self.kcol = self.vcol = None
        self.n = 0  # records, once sealed
        # sparse, {record index: value}, only for records that have them: the fast path of
        # send() appends records without touching these, so they cannot be kept aligned lists
        self.headers = None
        self.timestamps = None
        self.size = size
        self.room = size
        self.created = created  # the producer clock's monotonic time (linger starts here)
        self.ts = now_ms
        self.base = None
        self.error = None
        self.done = False
        self._event = None
        self.callbacks = None
        self.sticky = False

    def lay_out(self):
        """(Sealing, under the producer's lock) turn the record lists into columns."""
        self.n = len(self.values)
        self.kcol = _codec.Column.of(self.keys)
        self.vcol = _codec.Column.of(self.values)
        self.keys = self.values = None

    def finish(self, base, error):
        self.base = base
        self.error = error
        # under _cb_lock: add_done_callback checks `done` and appends under it, so a
        # callback is either taken here or run by add_done_callback itself, never lost
        with _cb_lock:
            self.done = True
            cbs = self.callbacks
            self.callbacks = None
        ev = self._event
        if ev is not None:
            ev.set()
        if cbs:
            for fut, fn in cbs:
                try:
                    fn(fut)
                except Exception:  # a user callback must not kill the sender
                    import logging
                    logging.getLogger("eventlog.producer").exception("exception in a send callback")

    def wait(self, timeout):
        if self.done:
            return True
        ev = self._event
        if ev is None:
            ev = threading.Event()
            self._event = ev
            if self.done:  # finished between the check and the assignment
                return True
        return ev.wait(timeout)


class RecordFuture(tuple):
    """The future of one sent record, compatible with `concurrent.futures.Future`:
    `result(timeout)` -> RecordMetadata, `exception(timeout)`, `done()`,
    `add_done_callback(fn)`, `cancelled()` (always False: a sent record cannot be recalled).
    """

    __slots__ = ()

    def done(self):
        return self[0].done

    def running(self):
        return not self[0].done

    def cancelled(self):
        return False

    def cancel(self):
        return False

    def result(self, timeout=None):
        b = self[0]
        if not b.done and not b.wait(timeout):
            raise KafkaTimeoutError(f"record to {b.tp.topic}[{b.tp.partition}] not written within {timeout} s")
        if b.error is not None:
            raise b.error
        i = self[1]
        ts = b.timestamps.get(i, b.ts) if b.timestamps is not None else b.ts
        return RecordMetadata(b.tp.topic, b.tp.partition, b.base + i, ts)

    get = result  # kafka-python's name

    def exception(self, timeout=None):
        b = self[0]
        if not b.done and not b.wait(timeout):
            raise KafkaTimeoutError(f"record to {b.tp.topic}[{b.tp.partition}] not written within {timeout} s")
        return b.error

    def add_done_callback(self, fn):
        """Call `fn(future)` once the record is written or failed (at once if it already is).
        Callbacks run on the producer's sender thread: keep them short."""
        b = self[0]
        if not b.done:
            with _cb_lock:
                if not b.done:
                    if b.callbacks is None:
                        b.callbacks = []
                    b.callbacks.append((self, fn))
                    return
        fn(self)

    def __repr__(self):
        b = self[0]
        state = "pending" if not b.done else ("error" if b.error else f"offset={b.base + self[1]}")
        return f"<RecordFuture {b.tp.topic}[{b.tp.partition}] {state}>"


_cb_lock = threading.Lock()


class _Mutex:
    """The producer's lock: a mutex whose uncontended acquire + release cost about half of
    `threading.Lock`'s (measured, CPython 3.11: ~31 against ~70 ns), paid on every `send`.

    It is a `queue.SimpleQueue`, `q`, holding one token: taking it (`q.get()`) acquires,
    putting it back (`q.put(True)`) releases. SimpleQueue.get/put are argument-clinic calls
    that touch no OS lock while the token is there; `threading.Lock.acquire` parses its
    arguments with the generic keyword parser and reads the monotonic clock (for a deadline)
    even when the lock is free. One token, so at most one holder; like Lock, it is not
    reentrant, and a blocked acquire releases the GIL. The hot path (`send`) calls
    `q.get()` / `q.put(True)` itself; everything else uses `with`."""

    __slots__ = ("q",)

    def __init__(self):
        self.q = queue.SimpleQueue()
        self.q.put(True)

    def __enter__(self):
        self.q.get()
        return True

    def __exit__(self, *exc):
        self.q.put(True)


def _failed(tp, error):
    """A future already failed with `error` (nothing was queued)."""
    b = _Batch(tp, 0)
    b.error = error
    b.done = True
    return RecordFuture((b, 0))


class _TopicState:
    """What `send` needs of one topic, in one place (the hot path reads only this)."""

    __slots__ = ("name", "topic", "count", "batches", "tps", "sticky", "keyed_ok", "max_record", "checked",
                 "cache", "lock", "eager", "pcache")

    def __init__(self, topic, hash_cache, lock, eager):
        self.cache = hash_cache if hash_cache is not None else {}
        self.lock = lock.q  # the producer's _Mutex, as send's fast path takes it
        self.eager = eager
        # key -> (partition for the current partition count (default partitioner), the key's
        # size + _RECORD_OVERHEAD): send's fast path then takes one len() per record
        self.pcache = {}
        self.name = topic.name
        self.topic = topic
        self.count = topic.config.partitions
        self.batches = [None] * self.count
        # one TopicPartition per partition, shared by its batches: a new one per batch was
        # one more object for the cyclic GC to count and traverse while the batch waits
        self.tps = [TopicPartition(self.name, p) for p in range(self.count)]
        self.sticky = None
        self.keyed_ok = "compact" not in topic.config.cleanup_policy
        # compared with key + value + _RECORD_OVERHEAD: the partition's limit, key + value
        self.max_record = topic.config.max_record_bytes + _RECORD_OVERHEAD
        self.checked = time.monotonic()


_live = weakref.WeakSet()


@atexit.register
def _flush_at_exit():
    for p in list(_live):
        try:
            p.close(timeout=30)
        except Exception:
            pass


class Producer:
    """Writes records to topics of a Log. Thread-safe; a context manager (close on exit).

    Create with `log.producer(...)`. Options (Kafka's names and units):
    linger_ms (5), batch_size (16384 bytes: a partition's batch is written once it holds this
    much), partitioner (None: Kafka's default; a name such as "round_robin" or
    "consistent_random"; or any callable (key, partition_count) -> int),
    key_serializer / value_serializer (callables to bytes), fsync ("never" | "batch" | None:
    the topic's setting), buffer_memory (32 MiB of unwritten records at most), max_block_ms
    (60000: how long `send` blocks while the buffer is full before raising BufferFullError),
    clock (an `eventlog._os.clock.Clock` timing linger_ms; default the Log's clock).
    """

    def __init__(self, log, *, linger_ms=5, batch_size=16384, partitioner=None, key_serializer=None,
                 value_serializer=None, fsync=None, buffer_memory=32 << 20, max_block_ms=60_000, clock=None):
        for name, v, lo in (("linger_ms", linger_ms, 0), ("batch_size", batch_size, 1),
                            ("buffer_memory", buffer_memory, 1), ("max_block_ms", max_block_ms, 0)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < lo:
                raise InvalidArgumentError(f"{name} must be a number >= {lo}, got {v!r}")
        if fsync not in (None, "never", "batch"):
            raise InvalidArgumentError(f"fsync must be 'never', 'batch' or None (the topic's setting), got {fsync!r}")
        for name, fn in (("key_serializer", key_serializer), ("value_serializer", value_serializer)):
            if fn is not None and not callable(fn):
                raise InvalidTypeError(f"{name} must be a callable (object -> bytes), got {fn!r}")
        self._log = log
        self._clock = check_clock(clock)
        self.linger = linger_ms / 1000.0
        self.batch_size = batch_size
        self.buffer_memory = buffer_memory
        self.max_block = max_block_ms / 1000.0
        self.fsync = fsync
        self._partitioner = _partitioners.get_partitioner(partitioner)
        self._default = isinstance(self._partitioner, _partitioners.DefaultPartitioner)
        self._hash_cache = self._partitioner.hash_cache if self._default else None
        self._kser = key_serializer
        self._vser = value_serializer
        self._lock = _Mutex()
        self._wake = threading.Event()
        self._space = threading.Condition(threading.Lock())
        self._done_cv = threading.Condition(threading.Lock())
        self._topics = {}
        self._ready = []          # batches full enough to write now
        self._open = {}           # tp -> current (accumulating) batch
        self._buffered = 0        # bytes of records not yet written (sealed batches)
        self._writing = 0         # of which: bytes the sender has taken and not yet finished
        self._sent_seq = 0        # batches handed to the sender
        self._done_seq = 0        # batches finished
        self._flush_upto = 0
        self._closed = False
        self._closing = False
        # anything that needs more than the fast path of send() sets this
        self._base_slow = bool(key_serializer or value_serializer or not self._default)
        self._set_slow(self._base_slow)  # also slow while the buffer is full, and once closed
        self._fork = fork_generation()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="eventlog-producer", daemon=True)
        self._thread.start()
        release_in_forked_child(self)
        _live.add(self)

    # -- public API ------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def partitions_for(self, topic):
        """The partition numbers of `topic`."""
        return list(range(self._topic_state(topic).count))

    def _topic_state(self, topic):
        ts = self._topics.get(topic)
        if ts is None:
            t = self._log.topic(topic)  # UnknownTopicError / InvalidTopicError
            with self._lock:
                ts = self._topics.get(topic)
                if ts is None:
                    ts = self._topics[topic] = _TopicState(t, self._hash_cache, self._lock, self.linger == 0)
        return ts

    def send(self, topic, value=None, key=None, headers=None, partition=None, timestamp_ms=None):
        """Queue one record for `topic`; return a RecordFuture at once.

        value and key are bytes or None (or anything the serializers accept). headers is a
        sequence of (str, bytes) pairs. partition, when given, wins over the partitioner.
        Errors in the arguments raise here (SerializationError, InvalidTypeError,
        ProducerClosedError); errors of the write (unknown topic or partition, too large,
        I/O) resolve the future with an EventLogError subclass.
        """
        # The fast path: default partitioner, no serializers, a bytes key already placed (or
        # no key: the sticky partition), bytes value, no headers/timestamp/partition, buffer
        # not full, producer open. Everything else goes through _send (same semantics).
        ts = self._fast.get(topic)  # an empty dict whenever the fast path is off (_set_slow)
        if ts is None or headers or timestamp_ms is not None or partition is not None \
                or value.__class__ is not bytes:
            return self._send(topic, value, key, headers, partition, timestamp_ms)
        if key is None:
            p = ts.sticky
            if p is None or not ts.keyed_ok:
                return self._send(topic, value, key, headers, partition, timestamp_ms)
            size = len(value) + _RECORD_OVERHEAD
        elif key.__class__ is bytes:
            placed = ts.pcache.get(key)
            if placed is None:
                return self._send(topic, value, key, headers, partition, timestamp_ms)
            p, size = placed  # the key's partition, and its size + _RECORD_OVERHEAD
            size += len(value)
        else:
            return self._send(topic, value, key, headers, partition, timestamp_ms)
        if size > ts.max_record:
            return self._send(topic, value, key, headers, partition, timestamp_ms)
        lock = ts.lock
        lock.get()  # take the _Mutex's token; in try/finally: ~50 ns cheaper than `with`
        try:
            b = ts.batches[p]
            if b is None:
                if self._closed:
                    raise ProducerClosedError("send() on a closed producer")
                b = self._new_batch(ts, p, key is None)
            values = b.values
            i = len(values)
            values.append(value)
            b.keys.append(key)
            room = b.room - size  # starts at 0 with linger_ms=0: every record is sent at once
            b.room = room
            if room > 0:
                return RecordFuture((b, i))
            self._seal(ts, b)
        finally:
            lock.put(True)  # give the token back
        self._after_seal()
        return RecordFuture((b, i))

    def _set_slow(self, slow):
        """Turn send()'s fast path off (every send goes through _send) or back on. The fast
        path finds topics in `_fast`, which is the topics dict itself or, while off, empty."""
        self._slow = slow
        self._fast = {} if slow else self._topics

    def _after_fork_in_child(self):
        """In a forked child (see `_fs`): the sender thread does not exist here, so every
        send() must take the slow path, which refuses it (never a future that never resolves)."""
        self._set_slow(True)

    def _forked_error(self):
        return ForkedProcessError(
            f"this Producer was created in process {self._pid} and used in forked child "
            f"{os.getpid()}, where its sender thread does not run; open the log in the child "
            f"(eventlog.open) and create a new Producer there (records sent before the fork are "
            f"written by the parent)")

    @staticmethod
    def _closed_error():
        return ProducerClosedError("send() on a closed producer; create a new one with log.producer()")

    def _send(self, topic, value, key, headers, partition, timestamp_ms):
        check_usable(self._closed, self._fork, self._closed_error, self._forked_error)
        if self._kser is not None:
            key = _serde.serialize(self._kser, key, "key", topic)
        if self._vser is not None:
            value = _serde.serialize(self._vser, value, "value", topic)
        if value is not None and value.__class__ is not bytes:
            value = self._coerce(value, "value")
        if key is not None and key.__class__ is not bytes:
            key = self._coerce(key, "key")
        # validate everything before anything is added to a batch: a bad record must raise
        # here, never poison the batch (and so the futures) of other records
        hsize = 0
        if headers:
            headers, hsize = self._check_headers(headers)
        else:
            headers = None
        if timestamp_ms is not None and (timestamp_ms.__class__ is not int or not 0 <= timestamp_ms <= _MAX_TS):
            raise InvalidArgumentError(f"timestamp_ms must be an int in [0, 2**63) (ms since the epoch), "
                                       f"got {timestamp_ms!r}")
        ts = self._topics.get(topic)
        if ts is None:
            try:
                ts = self._topic_state(topic)
            except UnknownTopicError as e:
                return _failed(TopicPartition(topic, partition if type(partition) is int else -1), e)
        n = ts.count
        if partition is None:
            if self._default:
                if key is None:
                    partition = ts.sticky
                    if partition is None:
                        partition = ts.sticky = self._partitioner.sticky_partition(n)
                else:
                    partition = self._partitioner(key, n)
                    if key.__class__ is bytes and len(key) <= 64:
                        pc = ts.pcache
                        if len(pc) >= 100_000:
                            pc.clear()
                        pc[key] = (partition, len(key) + _RECORD_OVERHEAD)
            else:
                try:
                    partition = _partitioners.check_partition(self._partitioner(key, n), n, self._partitioner)
                except EventLogError as e:
                    return _failed(TopicPartition(topic, -1), e)
        elif partition.__class__ is not int or not 0 <= partition < n:
            try:
                _partitioners.check_partition(partition, max(n, partition + 1) if isinstance(partition, int)
                                              and not isinstance(partition, bool) and partition >= 0 else n,
                                              "partition=")
                ts = self._refresh(ts)
                if not 0 <= partition < ts.count:
                    raise InvalidArgumentError(f"partition={partition} but topic {topic!r} has {ts.count} "
                                               f"partition(s) (0..{ts.count - 1})")
            except EventLogError as e:
                return _failed(TopicPartition(topic, partition if type(partition) is int else -1), e)
        size = (len(value) if value is not None else 0) + (len(key) if key is not None else 0) \
            + hsize + _RECORD_OVERHEAD
        if size > ts.max_record or (key is None and not ts.keyed_ok):
            return _failed(TopicPartition(topic, partition), self._record_error(ts, size, key))
        if self._buffered > self.buffer_memory:
            # backpressure before the record is accepted: BufferFullError means "not sent"
            self._wait_for_space()
        with self._lock:
            if self._closed:
                raise ProducerClosedError("send() on a closed producer")
            b = ts.batches[partition]
            if b is None:
                b = self._new_batch(ts, partition, key is None and self._default)
            i = len(b.values)
            if headers or timestamp_ms is not None:
                self._add_extra(b, i, headers, timestamp_ms)
            b.values.append(value)
            b.keys.append(key)
            b.room -= size
            if b.room > 0:
                return RecordFuture((b, i))
            self._seal(ts, b)
        self._after_seal()
        return RecordFuture((b, i))

    def _new_batch(self, ts, partition, sticky):
        """(Under self._lock) start accumulating a batch for a partition."""
        b = ts.batches[partition] = _Batch(ts.tps[partition], _now_ms(),
                                           0 if ts.eager else self.batch_size, self._clock.monotonic())
        b.sticky = sticky
        if not self._open and not ts.eager:
            # with no open batch the sender sleeps without a linger deadline: give it one
            self._wake.set()
        self._open[b.tp] = b
        return b

    def _after_seal(self):
        """After a batch was sealed (outside the lock): wake the sender, unless it has been
        woken already and not yet looked (it clears the event before it takes the ready
        batches, so a batch sealed before that is taken). (Backpressure is applied by the
        next `send`, before it accepts its record: see _seal.)"""
        if not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout=None):
        """Write everything sent so far and wait until it is in the log.
        Raises KafkaTimeoutError if that takes longer than `timeout` seconds."""
        if self._fork != fork_generation():
            raise self._forked_error()
        if threading.current_thread() is self._thread:
            # a done-callback runs on the sender thread, which would be waiting for itself
            raise IllegalStateError("flush() inside a send callback would wait forever for the "
                                    "thread running the callback; flush from another thread")
        with self._lock:
            for ts in self._topics.values():
                for b in ts.batches:
                    if b is not None and b.values:
                        self._seal(ts, b)
            target = self._sent_seq
            self._flush_upto = max(self._flush_upto, target)
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._done_cv:
            while self._done_seq < target:
                if not self._thread.is_alive():
                    raise EventLogError("the producer's sender thread has stopped")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise KafkaTimeoutError(f"flush did not finish within {timeout} s")
                self._done_cv.wait(0.1 if left is None else min(left, 0.1))

    def close(self, timeout=None):
        """Flush (bounded by `timeout` seconds if given) and stop. Idempotent.
        From a send callback (the sender thread) it does not wait: it refuses further sends
        and the sender writes what was accepted, then stops. In a forked child it only
        refuses further sends: the records accepted before the fork are the parent's to write."""
        if self._fork != fork_generation():
            self._closed = True
            _live.discard(self)
            return
        if threading.current_thread() is self._thread:
            with self._lock:
                self._closed = True
                self._set_slow(True)
            self._closing = True
            return
        if self._closed and not self._thread.is_alive():
            return
        try:
            self.flush(timeout)
        finally:
            with self._lock:
                self._closed = True
                self._set_slow(True)
            self._closing = True
            self._wake.set()
            self._thread.join(timeout)
            _live.discard(self)

    def _check(self):
        """Assert the producer's invariants (tests call it after every step): the buffered
        bytes are those of the ready batches plus those the sender is writing; every open
        batch is its partition's current batch, unwritten, with its used bytes accounted
        record by record; sealed batches are not open; sequence counters agree."""
        with self._lock:
            ready = list(self._ready)
            assert self._buffered == sum(b.size - b.room for b in ready) + self._writing, \
                (self._buffered, [b.size - b.room for b in ready], self._writing)
            assert self._writing >= 0 and self._buffered >= 0
            assert 0 <= self._done_seq <= self._sent_seq
            current = {}
            for ts in self._topics.values():
                assert len(ts.batches) == len(ts.tps) == ts.count
                for p, b in enumerate(ts.batches):
                    if b is not None:
                        assert b.tp == TopicPartition(ts.name, p)
                        current[b.tp] = b
            assert set(current) == set(self._open), (sorted(current), sorted(self._open))
            for tp, b in self._open.items():
                assert current[tp] is b and not b.done and b.base is None
                assert len(b.keys) == len(b.values) and b.kcol is None
                if b.headers is None:
                    used = sum((len(v) if v is not None else 0) + (len(k) if k is not None else 0)
                               + _RECORD_OVERHEAD for k, v in zip(b.keys, b.values))
                    assert b.size - b.room == used, (tp, b.size - b.room, used)
            for b in ready:
                assert self._open.get(b.tp) is not b and not b.done
                assert b.keys is None and len(b.kcol) == len(b.vcol) == b.n

    # -- send helpers (slow paths) ---------------------------------------------------------

    @staticmethod
    def _coerce(x, what):
        if isinstance(x, (bytearray, memoryview)):
            return bytes(x)
        hint = " (encode it, or pass value_serializer=eventlog.clients.serde.str_serializer)" if isinstance(x, str) else ""
        raise InvalidTypeError(f"{what} must be bytes or None, got {type(x).__name__}{hint}")

    def _record_error(self, ts, size, key):
        if key is None and not ts.keyed_ok:
            return InvalidArgumentError(f"topic {ts.name!r} is compacted: every record needs a key")
        return RecordTooLargeError(
            f"record of {size - _RECORD_OVERHEAD} bytes (key + value + headers) is over max_record_bytes="
            f"{ts.max_record - _RECORD_OVERHEAD} of topic {ts.name!r}")

    @staticmethod
    def _check_headers(headers):
        """Validate headers; return them as a tuple of (str, bytes | None) pairs, and their
        encoded size (as the partition counts it against max_record_bytes)."""
        if isinstance(headers, (str, bytes, bytearray)) or not hasattr(headers, "__iter__"):
            raise InvalidTypeError(f"headers must be a sequence of (str, bytes) pairs, got {headers!r:.80}")
        out = []
        for h in headers:
            if not (isinstance(h, (tuple, list)) and len(h) == 2 and isinstance(h[0], str)
                    and (h[1] is None or isinstance(h[1], (bytes, bytearray, memoryview)))):
                raise InvalidTypeError(f"headers must be (str, bytes | None) pairs, got {h!r:.80}")
            v = h[1]
            out.append((h[0], v if v is None or v.__class__ is bytes else bytes(v)))
        hs = tuple(out)
        try:
            size = _codec.record_sizes(None, (None,), (hs,))[0]
        except TypeError as e:
            raise InvalidTypeError(f"bad headers: {e}") from None
        except ValueError as e:  # too many headers, a name over 65535 bytes
            raise InvalidArgumentError(f"bad headers: {e}") from None
        return hs, size

    @staticmethod
    def _add_extra(b, i, headers, timestamp_ms):
        """(Under self._lock) note headers / timestamp of record i (validated by _send)."""
        if headers:
            if b.headers is None:
                b.headers = {}
            b.headers[i] = headers
        if timestamp_ms is not None:
            if b.timestamps is None:
                b.timestamps = {}
            b.timestamps[i] = timestamp_ms

    @staticmethod
    def _columns(group):
        """The headers and timestamps columns of a group of batches (None where all are
        absent / uniform), expanded from the batches' sparse maps, and the timestamps as
        runs of `(timestamp, count)` instead when no record has its own (the usual case:
        each batch's records share the batch's timestamp, so no per-record column is built
        here)."""
        any_h = any_t = own_t = False
        ts0 = group[0].ts
        for b in group:
            any_h = any_h or b.headers is not None
            own_t = own_t or b.timestamps is not None
            any_t = any_t or b.ts != ts0
        headers = tss = None
        if any_t and not own_t:
            any_t = False
            tss = [(b.ts, b.n) for b in group]
        if any_h:
            headers = []
            for b in group:
                col = [()] * b.n
                if b.headers is not None:
                    for i, h in b.headers.items():
                        col[i] = h
                headers += col
        if any_t or own_t:
            tss = []
            for b in group:
                col = [b.ts] * b.n
                if b.timestamps is not None:
                    for i, t in b.timestamps.items():
                        col[i] = t
                tss += col
            return headers, tss, None
        return headers, None, tss

    def _seal(self, ts, b):
        """(Under self._lock) move an accumulating batch to the ready list."""
        b.lay_out()
        ts.batches[b.tp.partition] = None
        self._open.pop(b.tp, None)
        self._ready.append(b)
        self._sent_seq += 1
        self._buffered += b.size - b.room
        if self._buffered > self.buffer_memory:
            self._set_slow(True)  # the next send goes through _send, which waits for space
        if b.sticky and self._default and ts.sticky == b.tp.partition:
            ts.sticky = self._partitioner.new_batch(ts.count, b.tp.partition)

    def _wait_for_space(self):
        deadline = time.monotonic() + self.max_block
        self._wake.set()
        with self._space:
            while self._buffered > self.buffer_memory:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BufferFullError(
                        f"the producer's buffer ({self.buffer_memory} bytes) stayed full for max_block_ms="
                        f"{self.max_block * 1000:.0f}; records are sent faster than they can be written")
                self._wake.set()
                self._space.wait(min(left, 0.05))

    def _refresh(self, ts):
        t = self._log.topic(ts.name)
        if t.config.partitions != ts.count:
            with self._lock:
                ts.batches.extend([None] * (t.config.partitions - ts.count))
                ts.tps.extend(TopicPartition(ts.name, p) for p in range(ts.count, t.config.partitions))
                ts.count = t.config.partitions
                ts.pcache = {}  # placements depend on the partition count
        ts.max_record = t.config.max_record_bytes + _RECORD_OVERHEAD
        ts.keyed_ok = "compact" not in t.config.cleanup_policy
        ts.checked = time.monotonic()
        return ts

    # -- the sender thread -----------------------------------------------------------------
    def _run(self):
        linger = self.linger
        clock = self._clock
        while True:
            timeout = None
            if self._open:
                oldest = min(b.created for b in list(self._open.values()))
                timeout = max(0.0, oldest + linger - clock.monotonic())
            if not self._ready and not self._closing:
                clock.wait(self._wake, timeout if timeout is not None else 0.5)
            self._wake.clear()
            now = clock.monotonic()
            with self._lock:
                for b in list(self._open.values()):
                    if now - b.created >= linger:
                        self._seal(self._topics[b.tp.topic], b)
                ready, self._ready = self._ready, []
                if ready:
                    self._writing += sum(b.size - b.room for b in ready)
            if ready:
                self._write(ready)
            elif self._closing and not self._open:
                return
            # list(): send() may add a topic meanwhile (iterating the dict itself could raise)
            mono = time.monotonic()  # metadata refresh: real time, not the linger clock
            if mono - min((ts.checked for ts in list(self._topics.values())), default=mono) > 5:
                for ts in list(self._topics.values()):
                    try:
                        self._refresh(ts)
                    except EventLogError:
                        pass

    def _write(self, ready):
        # several sealed batches of one partition are written as one on-disk batch
        by_tp = {}
        for b in ready:
            by_tp.setdefault(b.tp, []).append(b)
        # each topic is looked up (a stat of its topic.json: deleted? settings changed?) once
        # per round, not once per batch: one syscall, and one wait for the GIL, less per write
        topics = {}
        for tp, bs in by_tp.items():
            limit = self._merge_limit(tp.topic)
            i = 0
            while i < len(bs):
                group = [bs[i]]
                size = bs[i].size - bs[i].room
                i += 1
                while i < len(bs) and size + bs[i].size - bs[i].room <= limit:
                    group.append(bs[i])
                    size += bs[i].size - bs[i].room
                    i += 1
                self._write_group(tp, group, topics)

    def _merge_limit(self, topic):
        """How many bytes of sealed batches may be merged into one on-disk batch of `topic`."""
        ts = self._topics.get(topic)
        if ts is None:
            return _MAX_WRITE
        return min(_MAX_WRITE, ts.topic.config.segment_bytes // _SEGMENT_SHARE)

    def _write_group(self, tp, group, topics):
        error = None
        base = None
        try:
            t = topics.get(tp.topic)
            if t is None:
                t = topics[tp.topic] = self._log.topic(tp.topic)
            part = t.partition(tp.partition)
            if len(group) == 1:
                keys, values = group[0].kcol, group[0].vcol
            else:
                keys = _codec.Column.join([b.kcol for b in group])
                values = _codec.Column.join([b.vcol for b in group])
            ts0 = group[0].ts
            headers, tss, runs = self._columns(group)
            prep = part.prepare_batch(keys, values, ts0, tss, headers, ts_runs=runs)
            base = part.append_prepared(prep, fsync=self.fsync).start
        except EventLogError as e:
            error = e
        except Exception as e:  # I/O errors and the like
            error = EventLogError(f"writing to {tp.topic}[{tp.partition}] failed: {type(e).__name__}: {e}")
            error.__cause__ = e
        keys = values = prep = None
        freed = 0
        for b in group:
            # the records' bytes are written (or failed): a future the user keeps holds the
            # batch, not its copy of every record, and the memory is reused by the next seals
            b.kcol = b.vcol = None
            b.finish(base, error)
            if base is not None:
                base += b.n
            freed += b.size - b.room
        with self._lock:
            self._buffered -= freed
            self._writing -= freed
            if self._buffered <= self.buffer_memory and not self._closed:
                self._set_slow(self._base_slow)
        with self._space:
            self._space.notify_all()
        with self._done_cv:
            self._done_seq += len(group)
            self._done_cv.notify_all()
