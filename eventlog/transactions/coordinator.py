"""The transaction coordinator: one state file per `transactional_id`, under a flock.

Owns: producer ids and epochs (fencing), the transaction state machine, the commit protocol
(decision, markers, offsets, completion) and its recovery. Layout under the log directory
(byte by byte in docs/format.md, semantics in docs/transactions.md):

    transactions/producer-ids.json      {"next_producer_id": n}    (under producer-ids.lock)
    transactions/t-<hex id>.json        the state of one transactional id
    transactions/t-<hex id>.lock        flock: whoever changes that state or writes its data
    transactions/pid-<n>.json           {"transactional_id": id}  (producer id -> id)

Invariants:
- Every change of a state file happens under its flock, with the state re-read after the
  lock is taken; writes are atomic (temp file, fsync, rename), so a crash leaves the old or
  the new state.
- Fencing: a producer holds (producer id, epoch). Each `init_transactions` bumps the epoch
  (so does an abort by timeout or by an operator). Data batches and the decision are written
  only under the flock after checking the stored (id, epoch) is the caller's, so once a newer
  epoch is stored, no older incarnation writes anything again, in any process.
- A partition is recorded in the state (fsynced) before the transaction's first batch is
  written to it, so recovery knows every partition that may hold its data.
- The decision (PREPARE_COMMIT / PREPARE_ABORT, with the offsets to commit) is fsynced
  before any marker is written; markers are fsynced before the offsets are committed, and
  the offsets (fsynced whatever the log's `fsync`) before COMPLETE_* is written. The
  `transactions/` directory's entry is fsynced before any state file is written in it. Whoever finds a PREPARE_* state with the flock free (the
  committing process died: the committer holds the flock from decision to completion)
  finishes it the same way: all-or-nothing. An ONGOING transaction is aborted by the next
  `init_transactions` of the same id, or by anyone once `transaction_timeout_ms` passed.
"""
import logging
import os
import re
import time

from eventlog._os.fs import FileLock, atomic_write_json, fsync_dir, read_json
from eventlog._os.fs import now_ms as _now_ms
from eventlog.errors import (IllegalStateError, InvalidArgumentError, InvalidTypeError, KafkaTimeoutError,
                             ProducerFencedError, UnknownTopicError)
from eventlog.record import TopicPartition
from eventlog.storage.codec import MAX_PRODUCER_EPOCH, MAX_PRODUCER_ID

_log = logging.getLogger("eventlog.transactions")
DIR = "transactions"
FORMAT = 1
EMPTY, ONGOING = "EMPTY", "ONGOING"
PREPARE_COMMIT, PREPARE_ABORT = "PREPARE_COMMIT", "PREPARE_ABORT"
COMPLETE_COMMIT, COMPLETE_ABORT = "COMPLETE_COMMIT", "COMPLETE_ABORT"
STATES = (EMPTY, ONGOING, PREPARE_COMMIT, PREPARE_ABORT, COMPLETE_COMMIT, COMPLETE_ABORT)
OPEN_STATES = (ONGOING, PREPARE_COMMIT, PREPARE_ABORT)
DEFAULT_TIMEOUT_MS = 60_000
MAX_ID_BYTES = 120  # "t-" + 2 hex digits per byte + ".json" stays below NAME_MAX (255)
_PID_FILE = re.compile(r"^pid-(\d+)\.json$")


def check_transactional_id(txn_id):
    """Return `txn_id` if it is a usable transactional id, else raise naming what is allowed."""
    if not isinstance(txn_id, str):
        raise InvalidTypeError(f"transactional_id must be a str, got {type(txn_id).__name__}: {txn_id!r:.80}")
    n = len(txn_id.encode("utf-8"))
    if not 0 < n <= MAX_ID_BYTES:
        raise InvalidArgumentError(f"transactional_id must be 1..{MAX_ID_BYTES} bytes of UTF-8, got {n} "
                                   f"bytes: {txn_id!r:.80}")
    return txn_id


def check_timeout(timeout_ms):
    if type(timeout_ms) is not int or timeout_ms < 1:
        raise InvalidArgumentError(f"transaction_timeout_ms must be an int >= 1 (ms), got {timeout_ms!r}")
    return timeout_ms


class TransactionCoordinator:
    """The coordinator of the log at `root`. `partition_for(topic, partition)` returns the
    storage Partition markers are written to (the Log injects it); `offset_store` is where
    offsets sent to a transaction are committed when it commits; `clock` returns ms (tests
    inject one to pass `transaction_timeout_ms` without waiting). `fault(step)`, if given, is
    called at each step of the commit protocol (fault-injection tests kill the process there):
    "recorded" (new partitions of the transaction stored, its batches not yet written),
    "written" (after the batches of an `append`), "offsets-sent" (offsets stored),
    "deciding" (before the decision is stored), "decided", "marker-<i>" (after the i-th
    marker, from 1), "offsets" (offsets committed), "completed" (COMPLETE_* stored)."""

    def __init__(self, root, partition_for, offset_store, *, clock=_now_ms, fault=None):
        self.dir = os.path.join(root, DIR)
        self._partition_for = partition_for
        # offsets are committed with fsync whatever the log's fsync setting: COMPLETE_COMMIT
        # (fsynced) must not outlive them in a power cut
        self._offsets = offset_store.durable()
        self.clock = clock
        self._dir_synced = False
        self.fault = fault
        self._locks = {}

    # -- files -----------------------------------------------------------------------------
    def _ensure_dir(self):
        # the directory's own entry is fsynced in the log directory (once per coordinator,
        # also when another process made it: it may not have synced it yet), or a power cut
        # could take every state file with it and leave transactional batches no one can end
        if not self._dir_synced:
            os.makedirs(self.dir, exist_ok=True)
            fsync_dir(os.path.dirname(self.dir), strict=True)
            self._dir_synced = True

    def _path(self, txn_id, ext):
        return os.path.join(self.dir, f"t-{txn_id.encode('utf-8').hex()}.{ext}")

    def _lock(self, txn_id):
        lk = self._locks.get(txn_id)
        if lk is None:
            self._ensure_dir()
            lk = self._locks[txn_id] = FileLock(self._path(txn_id, "lock"))
        return lk

    def load(self, txn_id):
        """The stored state of `txn_id` (a dict, see docs/format.md), or None."""
        try:
            st = read_json(self._path(txn_id, "json"))
        except FileNotFoundError:
            return None
        if st.get("format") != FORMAT or st.get("state") not in STATES:
            raise IllegalStateError(f"transaction state file {self._path(txn_id, 'json')} has an unknown "
                                    f"format or state: {st!r:.200}")
        return st

    def _save(self, st):
        st["updated_ms"] = self.clock()
        atomic_write_json(self._path(st["transactional_id"], "json"), st, fsync=True)

    def _fault(self, step):
        if self.fault is not None:
            self.fault(step)

    def transactional_id_of(self, producer_id):
        try:
            return read_json(os.path.join(self.dir, f"pid-{producer_id}.json"))["transactional_id"]
        except FileNotFoundError:
            return None

    def _new_producer_id(self, txn_id):
        self._ensure_dir()
        lk = FileLock(os.path.join(self.dir, "producer-ids.lock"))
        lk.acquire()
        try:
            path = os.path.join(self.dir, "producer-ids.json")
            try:
                pid = read_json(path)["next_producer_id"]
            except FileNotFoundError:
                pid = 1
            if pid > MAX_PRODUCER_ID:
                raise IllegalStateError(f"{path}: all {MAX_PRODUCER_ID} producer ids are used")
            # the reverse map first: a pid in a batch always has one
            atomic_write_json(os.path.join(self.dir, f"pid-{pid}.json"), {"transactional_id": txn_id})
            atomic_write_json(path, {"next_producer_id": pid + 1})
            return pid
        finally:
            lk.release()
            lk.close()

    # -- the state machine ----------------------------------------------------------------
    class _Held:
        def __init__(self, lk, blocking=True, timeout=None, what=""):
            self.lk, self.blocking, self.timeout, self.what = lk, blocking, timeout, what
            self.got = False

        def __enter__(self):
            if self.timeout is None or not self.blocking:
                self.got = self.lk.acquire(self.blocking)
                return self.got
            deadline = time.monotonic() + self.timeout
            while not self.lk.acquire(False):
                if time.monotonic() >= deadline:
                    raise KafkaTimeoutError(f"{self.what} was busy (another producer with this transactional_id "
                                            f"is committing or recovering) for {self.timeout} s")
                time.sleep(0.005)
            self.got = True
            return True

        def __exit__(self, *exc):
            if self.got:
                self.lk.release()

    def held(self, txn_id, blocking=True, timeout=None):
        """Context manager holding the flock of `txn_id` (yields False if not blocking and busy;
        with a `timeout` in seconds, raises KafkaTimeoutError if still busy then)."""
        return self._Held(self._lock(txn_id), blocking, timeout, f"the lock of transactional_id {txn_id!r}")

    def _fenced(self, st, txn_id, pid, epoch):
        if st is None or st["producer_id"] != pid or st["producer_epoch"] != epoch:
            now = "none" if st is None else f"{st['producer_id']}/{st['producer_epoch']}"
            raise ProducerFencedError(
                f"producer {pid}/{epoch} of transactional_id {txn_id!r} was fenced: the current "
                f"producer id/epoch is {now} (a newer producer called init_transactions, or the "
                "transaction timed out and was aborted); close this producer and create a new one")

    def init(self, txn_id, timeout_ms=DEFAULT_TIMEOUT_MS, lock_timeout=None):
        """Fence every older producer of `txn_id` and finish what it left: roll a PREPARE_*
        decision forward, abort an ONGOING transaction. Returns (producer id, epoch).
        `lock_timeout` (seconds, None: forever) bounds the wait for the id's flock
        (KafkaTimeoutError; nothing changed)."""
        check_transactional_id(txn_id)
        check_timeout(timeout_ms)
        with self.held(txn_id, timeout=lock_timeout):
            st = self.load(txn_id)
            if st is None:
                st = {"format": FORMAT, "transactional_id": txn_id, "producer_id": self._new_producer_id(txn_id),
                      "producer_epoch": 0, "state": EMPTY, "partitions": [], "offsets": None,
                      "transaction_timeout_ms": timeout_ms, "started_ms": None,
                      "txn_producer_id": None, "txn_producer_epoch": None}
            else:
                self._finish(st, bump=True)
                self._bump(st)
            st["transaction_timeout_ms"] = timeout_ms
            self._save(st)
            return st["producer_id"], st["producer_epoch"]

    def _bump(self, st):
        if st["producer_epoch"] < MAX_PRODUCER_EPOCH:
            st["producer_epoch"] += 1
        else:  # epochs exhausted: a new producer id (Kafka does the same)
            st["producer_id"] = self._new_producer_id(st["transactional_id"])
            st["producer_epoch"] = 0

    def _finish(self, st, *, bump):
        """Under the flock: complete a PREPARE_* decision, or abort an ONGOING transaction
        (bumping the epoch first, to fence its producer, if `bump`). Returns the end state."""
        if st["state"] == ONGOING:
            if bump:
                self._bump(st)
            st["state"] = PREPARE_ABORT
            st["offsets"] = None
            self._save(st)
        if st["state"] in (PREPARE_COMMIT, PREPARE_ABORT):
            self._complete(st)
        return st["state"]

    def _complete(self, st):
        commit = st["state"] == PREPARE_COMMIT
        pid, epoch = st["txn_producer_id"], st["txn_producer_epoch"]
        for i, (topic, p) in enumerate(st["partitions"], 1):
            try:
                part = self._partition_for(topic, p)
            except UnknownTopicError:   # deleted since: nothing of the transaction is left there
                _log.warning("transactional_id %r: topic %r was deleted during its transaction; no %s "
                             "marker for partition %d", st["transactional_id"], topic,
                             "commit" if commit else "abort", p)
                continue
            part.append_control(commit, pid, epoch)
            self._fault(f"marker-{i}")
        if commit and st["offsets"]:
            o = st["offsets"]
            # [topic, partition, offset] or, with the application's metadata, [..., metadata]
            self._offsets.commit(o["group"], {TopicPartition(e[0], e[1]): e[2] for e in o["offsets"]},
                                 {TopicPartition(e[0], e[1]): e[3] for e in o["offsets"] if len(e) > 3})
            self._fault("offsets")
        st["state"] = COMPLETE_COMMIT if commit else COMPLETE_ABORT
        st["partitions"] = []
        st["offsets"] = None
        self._save(st)
        self._fault("completed")

    def _begin_if_needed(self, st):
        if st["state"] != ONGOING:
            st["state"] = ONGOING
            st["partitions"] = []
            st["offsets"] = None
            st["started_ms"] = self.clock()
            st["txn_producer_id"] = st["producer_id"]
            st["txn_producer_epoch"] = st["producer_epoch"]
            return True
        return False

    def append(self, txn_id, pid, epoch, batches):
        """Write `batches` ({TopicPartition: [records]}) as transactional batches of producer
        (pid, epoch): under the flock, after the fencing check and after recording partitions
        new to the transaction. Returns {tp: range of offsets}."""
        with self.held(txn_id):
            st = self.load(txn_id)
            self._fenced(st, txn_id, pid, epoch)
            changed = self._begin_if_needed(st)
            known = {tuple(x) for x in st["partitions"]}
            for tp in batches:
                if (tp.topic, tp.partition) not in known:
                    st["partitions"].append([tp.topic, tp.partition])
                    changed = True
            if changed:
                self._save(st)
                self._fault("recorded")
            out = {}
            for tp, records in batches.items():
                out[tp] = self._partition_for(tp.topic, tp.partition).append_transactional(records, pid, epoch)
            self._fault("written")
            return out

    def add_offsets(self, txn_id, pid, epoch, group_id, offsets, metadata=None):
        """Record `offsets` ({TopicPartition: next offset}) of consumer group `group_id` in the
        transaction: committed to the group's store if and only if the transaction commits.
        `metadata` ({TopicPartition: str or None}, for partitions among `offsets`) is committed
        with them; a partition without it gets the store's default ("")."""
        with self.held(txn_id):
            st = self.load(txn_id)
            self._fenced(st, txn_id, pid, epoch)
            self._begin_if_needed(st)
            cur = st["offsets"]
            if cur is not None and cur["group"] != group_id:
                raise IllegalStateError(
                    f"transaction of {txn_id!r} already holds offsets of group {cur['group']!r}; offsets of "
                    f"one group per transaction are supported, got group {group_id!r}")
            merged = {} if cur is None else {(e[0], e[1]): e[2:] for e in cur["offsets"]}
            metadata = metadata or {}
            for tp, off in offsets.items():
                merged[(tp.topic, tp.partition)] = [off, metadata[tp]] if tp in metadata else [off]
            st["offsets"] = {"group": group_id, "offsets": sorted([t, p, *v] for (t, p), v in merged.items())}
            self._save(st)
            self._fault("offsets-sent")

    def end(self, txn_id, pid, epoch, commit):
        """Commit (or abort) the transaction of producer (pid, epoch): decision, markers on
        every partition it wrote to, offsets, completion. ProducerFencedError if fenced."""
        with self.held(txn_id):
            st = self.load(txn_id)
            self._fenced(st, txn_id, pid, epoch)
            if st["state"] != ONGOING:  # nothing was sent: nothing to decide
                return st["state"]
            self._fault("deciding")
            st["state"] = PREPARE_COMMIT if commit else PREPARE_ABORT
            if not commit:
                st["offsets"] = None
            self._save(st)
            self._fault("decided")
            self._complete(st)
            return st["state"]

    # -- recovery and tooling --------------------------------------------------------------
    def expire(self, producer_id, *, force=False):
        """Finish the transaction of `producer_id` if its producer is gone: a PREPARE_* state
        with the flock free is rolled forward; an ONGOING one older than its
        `transaction_timeout_ms` (or any, with `force`) is aborted and its producer fenced.
        Never waits for the flock. Returns the state afterwards, or None if untouched."""
        txn_id = self.transactional_id_of(producer_id)
        if txn_id is None:
            return None
        return self.abort(txn_id, force=force, blocking=False)

    def abort(self, txn_id, *, force=True, blocking=True):
        """Abort the open transaction of `txn_id` (fencing its producer); a PREPARE_COMMIT
        decision is rolled forward instead (it was decided: committing is the only
        all-or-nothing end). Without `force`, an ONGOING transaction is aborted only once it
        is past its timeout. Returns the state afterwards (None if the flock was busy)."""
        with self.held(txn_id, blocking) as got:
            if not got:
                return None
            st = self.load(txn_id)
            if st is None:
                raise InvalidArgumentError(f"no transactional id {txn_id!r} in {self.dir}")
            if st["state"] == ONGOING and not force and \
                    self.clock() - st["started_ms"] < st["transaction_timeout_ms"]:
                return st["state"]
            return self._finish(st, bump=True)

    def list(self):
        """The stored state of every transactional id (dicts, sorted by id)."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        out = []
        for n in sorted(names):
            if n.startswith("t-") and n.endswith(".json"):
                try:
                    txn_id = bytes.fromhex(n[2:-5]).decode("utf-8")
                except ValueError:
                    continue
                st = self.load(txn_id)
                if st is not None:
                    out.append(st)
        return sorted(out, key=lambda s: s["transactional_id"])

    def open_transactions(self):
        """States of the transactional ids with a transaction not yet complete."""
        return [s for s in self.list() if s["state"] in OPEN_STATES]
