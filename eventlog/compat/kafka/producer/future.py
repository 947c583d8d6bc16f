"""kafka.producer.future: FutureRecordMetadata, the future `KafkaProducer.send` returns."""
from __future__ import annotations

from eventlog import errors as _el
from eventlog.compat.kafka._shared import _kerr
from eventlog.compat.kafka.errors import KafkaTimeoutError
from eventlog.compat.kafka.future import Future
from eventlog.compat.kafka.structs import RecordMetadata, TopicPartition


class FutureRecordMetadata(Future):
    """The future `KafkaProducer.send` returns: `get(timeout)` -> RecordMetadata.

    Its state is read from eventlog's future when asked (`is_done`, `value`, `exception`,
    `get`); callbacks are hooked onto eventlog's future only when added, so a send that nobody
    waits on costs no callback machinery. A record sent in a transaction is buffered by the
    transactional producer: `get` writes the buffer first (`flush`), as kafka-python's sender
    would have sent it by then."""

    def __init__(self, efut, sizes, tp=None, flush=None, kerr=_kerr):
        self._d = False
        self._v = None
        self._x = None
        super().__init__()
        self._efut = efut
        self._sizes = sizes
        self._hooked = False
        self._tp = tp
        self._flush = flush   # writes what is buffered (a transaction's records wait for it)
        self._kerr = kerr     # eventlog error -> the kafka-python one

    is_done = property(lambda self: self._settle() or self._d, lambda self, v: setattr(self, "_d", v))
    value = property(lambda self: self._settle() or self._v, lambda self, v: setattr(self, "_v", v))
    exception = property(lambda self: self._settle() or self._x, lambda self, v: setattr(self, "_x", v))

    def _settle(self):
        """(Any thread) take the eventlog future's outcome if it has one; returns None."""
        ef = self._efut
        if self._d or ef is None or not ef.done():
            return None
        e = ef.exception()
        md = None
        if e is None:
            m = ef.result()
            ks, vs, hs = self._sizes
            md = RecordMetadata(m.topic, m.partition, TopicPartition(m.topic, m.partition), m.offset,
                                m.timestamp_ms, None, ks, vs, hs)
        with self._lock:
            if self._d:
                return None
            if e is not None:
                self._x = self._kerr(e)
                fns = list(self._errbacks)
            else:
                self._v = md
                fns = list(self._callbacks)
            self._d = True
        for f in fns:
            self._call(f, self._x if e is not None else self._v)
        return None

    def _hook(self):
        if not self._hooked and self._efut is not None and not self._d:
            self._hooked = True
            self._efut.add_done_callback(lambda _f: self._settle())

    @property
    def topic_partition(self):
        if self._efut is None or self._tp is not None:
            return self._tp
        b = self._efut[0]
        return TopicPartition(b.tp.topic, b.tp.partition)

    def add_callback(self, f, *args, **kwargs):
        super().add_callback(f, *args, **kwargs)
        self._hook()
        return self

    def add_errback(self, f, *args, **kwargs):
        super().add_errback(f, *args, **kwargs)
        self._hook()
        return self

    def get(self, timeout=None):
        ef = self._efut
        if ef is not None and not ef.done() and self._flush is not None:
            self._flush()   # records of a transaction are written when asked for (or at commit)
        if ef is not None and not ef.done():
            try:
                ef.result(timeout)
            except _el.KafkaTimeoutError:
                if not ef.done():
                    raise KafkaTimeoutError(f"Timeout after waiting for {timeout} secs.") from None
            except Exception:
                pass
        self._settle()
        if self._x is not None:
            raise self._x
        return self._v


def _failed_future(tp, exc, sizes=(-1, -1, -1)):
    f = FutureRecordMetadata(None, sizes, tp)
    f.failure(exc)
    return f
