"""An injectable clock: the one place time is read for timing logic that tests must drive.

Rules kept:
- `Clock` is the protocol: `now_ms()` (wall clock, ms since the epoch), `monotonic()`
  (seconds, never goes back) and `sleep(seconds)`.
- `SystemClock` reads the OS clocks; it is the default everywhere.
- `ManualClock` moves only when `advance()` is called (from any thread); its `sleep`
  advances it instead of waiting. Code that waits on OS events (inotify, flocks) still waits
  in real time: a ManualClock only decides what those waits conclude about elapsed time.
"""
from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock", "ManualClock", "SYSTEM_CLOCK"]


@runtime_checkable
class Clock(Protocol):
    def now_ms(self) -> int: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The OS clocks (`time.time`, `time.monotonic`, `time.sleep`)."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def __repr__(self):
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()


class ManualClock:
    """A clock that moves only when told to (`advance`); thread-safe."""

    def __init__(self, start_ms: int = 1_700_000_000_000, start_monotonic: float = 1000.0):
        self._mu = threading.Lock()
        self._ms = start_ms
        self._mono = start_monotonic

    def now_ms(self) -> int:
        with self._mu:
            return self._ms

    def monotonic(self) -> float:
        with self._mu:
            return self._mono

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock does not go back: advance({seconds!r})")
        with self._mu:
            self._mono += seconds
            self._ms += int(round(seconds * 1000))

    def __repr__(self):
        return f"ManualClock(monotonic={self.monotonic():.3f})"
