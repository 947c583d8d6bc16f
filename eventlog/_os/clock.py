"""Time, injectable: the one place eventlog's schedules read the clock.

`Clock` is what timing logic needs: `now_ms()` (wall-clock ms since the epoch, the unit of
record timestamps and retention), `monotonic()` (seconds, for intervals such as the
producer's linger), `sleep(seconds)`, and `wait(event, timeout)` (wait for a
`threading.Event` or until `timeout` seconds of this clock have passed). `SYSTEM` is the real
clock, used unless another is given. `ManualClock` is a clock tests move by hand
(`advance(seconds)`), so tests of linger, retention and maintenance schedules need not sleep.

Invariants: `monotonic()` never goes back; `wait` returns True as soon as the event is set and
False only once `timeout` seconds of this clock have passed without it; a `ManualClock` moves
only when `advance` (or `set_ms`, forward) is called, and every waiter notices within a few
milliseconds of real time.
"""
import threading
import time
from typing import Protocol

from eventlog.errors import InvalidTypeError


def now_ms():
    """Wall-clock milliseconds since the epoch (the unit of record timestamps)."""
    return time.time_ns() // 1_000_000


class Clock(Protocol):
    def now_ms(self) -> int: ...
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...
    def wait(self, event: threading.Event, timeout: float | None) -> bool: ...


class SystemClock:
    """The real clock (time.time_ns, time.monotonic, time.sleep, Event.wait)."""

    now_ms = staticmethod(now_ms)
    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)

    @staticmethod
    def wait(event, timeout=None):
        return event.wait(timeout)

    def __repr__(self):
        return "<SystemClock>"


SYSTEM = SystemClock()

_POLL = 0.002  # real seconds between a ManualClock waiter's looks at its event and the time


class ManualClock:
    """A clock that moves only when told to (tests). Starts at `start_ms` (default: the real
    wall clock now) and monotonic time `0.0`; `advance(seconds)` moves both forward."""

    def __init__(self, start_ms=None):
        self._ns0 = (now_ms() if start_ms is None else start_ms) * 1_000_000
        self._ns = 0  # integer nanoseconds since the start: advancing never accumulates float error
        self._cv = threading.Condition()

    def now_ms(self):
        return (self._ns0 + self._ns) // 1_000_000

    def monotonic(self):
        return self._ns / 1e9

    @property
    def _mono(self):
        return self._ns / 1e9

    def advance(self, seconds):
        """Move time forward by `seconds` (>= 0) and wake every waiter to look again."""
        if seconds < 0:
            raise ValueError(f"a clock only moves forward; advance({seconds!r})")
        with self._cv:
            self._ns += round(seconds * 1e9)
            self._cv.notify_all()

    def sleep(self, seconds):
        """Block until the clock has been advanced by `seconds`."""
        deadline = self._mono + seconds
        with self._cv:
            while self._mono < deadline:
                self._cv.wait(_POLL)

    def wait(self, event, timeout=None):
        deadline = None if timeout is None else self._mono + timeout
        while True:
            if event.is_set():
                return True
            if deadline is not None and self._mono >= deadline:
                return False
            event.wait(_POLL)

    def __repr__(self):
        return f"<ManualClock now_ms={self.now_ms()} monotonic={self._mono:.3f}>"


def check_clock(clock, what="clock"):
    """`clock` if it has the `Clock` methods (None: `SYSTEM`); else InvalidTypeError."""
    if clock is None:
        return SYSTEM
    missing = [m for m in ("now_ms", "monotonic", "sleep", "wait") if not callable(getattr(clock, m, None))]
    if missing:
        raise InvalidTypeError(f"{what} must be an eventlog._os.clock.Clock (with now_ms, monotonic, "
                               f"sleep and wait); {clock!r} lacks {', '.join(missing)}")
    return clock
