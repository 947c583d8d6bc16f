"""When maintenance runs: one partition at a time (`maintain_partition`), after a writer rolls
a segment (`on_roll`), and on a background thread (`Maintainer`), all on an injectable clock
(`eventlog._os.clock`).

Invariants:
- One maintenance run per partition at a time across processes: `maintenance.lock` is taken
  with LOCK_NB and a busy partition is skipped (reported as skipped: "busy").
- `on_roll` runs in the writer's thread under its append lock: it never raises into the
  writer and never waits for the maintenance lock.
- The background thread waits `interval` seconds of its clock between rounds and stops
  within one round of `stop()`.
"""
import os
import threading

from eventlog._os.clock import SYSTEM
from eventlog._os.fs import FileLock
from eventlog.maintenance.compaction import compact, recover
from eventlog.maintenance.retention import apply_retention, retention_applies

MAINT_LOCK = "maintenance.lock"


def new_report():
    return {"segments_deleted": 0, "bytes_freed": 0, "records_cleaned": 0, "segments_cleaned": 0,
            "skipped": None}


def _try_maint_lock(part):
    lk = FileLock(os.path.join(part.dir, MAINT_LOCK))
    try:
        ok = lk.acquire(blocking=False)
    except FileNotFoundError:  # partition (topic) deleted
        return None
    if not ok:
        lk.close()
        return None
    return lk


def _release(lk):
    try:
        lk.release()
    finally:
        lk.close()


def maintain_partition(part, now=None, stop=None, clock=SYSTEM):
    """Retention then compaction of one partition; a report dict (skipped: "busy" when
    another run holds the partition). `now` (ms) defaults to `clock.now_ms()`."""
    report = new_report()
    lk = _try_maint_lock(part)
    if lk is None:
        report["skipped"] = "busy"
        return report
    try:
        now = clock.now_ms() if now is None else now
        apply_retention(part, report, now)
        compact(part, report, now, stop)
        recover(part)
    finally:
        _release(lk)
    return report


def on_roll(part, clock=SYSTEM):
    """The writer just rolled `part` (it holds the append lock): apply retention, unless
    another run is busy with the partition. Never raises into the writer."""
    try:
        if not retention_applies(part.config):
            return
        lk = _try_maint_lock(part)
        if lk is None:
            return
        try:
            apply_retention(part, new_report(), clock.now_ms(), append_locked=True)
        finally:
            _release(lk)
    except Exception:  # noqa: BLE001 - retention is best effort here; maintain() reports errors
        pass


class Maintainer:
    """The background thread of `eventlog.open(..., background_maintenance=True)`: calls
    `run_round(stop_event)` every `interval` seconds of `clock` until stopped, or until a
    round fails while `is_closed()` is true."""

    def __init__(self, run_round, interval, *, is_closed=lambda: False, clock=SYSTEM):
        self.run_round = run_round
        self.interval = interval
        self.is_closed = is_closed
        self.clock = clock
        self.stop_event = threading.Event()
        self.last_error = None  # the last exception a round raised (for diagnosis)
        self.rounds = 0
        self.thread = threading.Thread(target=self._run, name="eventlog-maintenance", daemon=True)
        self.thread.start()

    def _run(self):
        while not self.clock.wait(self.stop_event, self.interval):
            try:
                self.run_round(self.stop_event)
                self.rounds += 1
            except Exception as e:  # noqa: BLE001 - keep running; the next round tries again
                self.last_error = e
                if self.is_closed():
                    return

    def stop(self):
        self.stop_event.set()
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=30)
