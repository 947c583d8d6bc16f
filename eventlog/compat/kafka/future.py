"""kafka.future: kafka-python's Future (callbacks, errbacks, chaining)."""
from __future__ import annotations

import functools
import logging
import threading
import time

from eventlog.compat import _common
from eventlog.compat.kafka.errors import IllegalStateError, KafkaTimeoutError

_log = logging.getLogger("eventlog.compat.kafka")


class Future:
    """kafka-python's `kafka.future.Future`: success/failure, callbacks, errbacks."""

    error_on_callbacks = False

    def __init__(self):
        self.is_done = False
        self.value = None
        self.exception = None
        self._callbacks = []
        self._errbacks = []
        self._lock = threading.RLock()

    def succeeded(self):
        return self.is_done and not bool(self.exception)

    def failed(self):
        return self.is_done and bool(self.exception)

    def retriable(self):
        try:
            return self.exception.retriable
        except AttributeError:
            return False

    def success(self, value):
        with self._lock:
            if self.is_done:
                raise IllegalStateError("Future is already complete")
            self.value = value
            self.is_done = True
            cbs = list(self._callbacks)
        for f in cbs:
            self._call(f, value)
        return self

    def failure(self, e):
        if isinstance(e, type):
            e = e()
        with self._lock:
            if self.is_done:
                raise IllegalStateError("Future is already complete")
            self.exception = e
            self.is_done = True
            ebs = list(self._errbacks)
        for f in ebs:
            self._call(f, e)
        return self

    def _call(self, f, arg):
        try:
            f(arg)
        except Exception as e:
            _log.exception("Error processing callback")
            if self.error_on_callbacks:
                raise e

    def _add(self, pending, on_success, f, args, kwargs):
        """Queue `f` for when the future completes, or call it now if it already did with the
        outcome it waits for (success for callbacks, failure for errbacks)."""
        if args or kwargs:
            f = functools.partial(f, *args, **kwargs)
        with self._lock:
            if not self.is_done:
                pending.append(f)
                return self
            due = self.succeeded() if on_success else self.failed()
        if due:
            self._call(f, self.value if on_success else self.exception)
        return self

    def add_callback(self, f, *args, **kwargs):
        return self._add(self._callbacks, True, f, args, kwargs)

    def add_errback(self, f, *args, **kwargs):
        return self._add(self._errbacks, False, f, args, kwargs)

    def add_both(self, f, *args, **kwargs):
        self.add_callback(f, *args, **kwargs)
        self.add_errback(f, *args, **kwargs)
        return self

    def chain(self, future):
        self.add_callback(future.success)
        self.add_errback(future.failure)
        return self

    def get(self, timeout=None):
        deadline = _common.deadline_after(timeout)
        while not self.is_done:
            if deadline is not None and time.monotonic() >= deadline:
                raise KafkaTimeoutError(f"Timeout after waiting for {timeout} secs.")
            time.sleep(0.001)
        if self.exception is not None:
            raise self.exception
        return self.value
