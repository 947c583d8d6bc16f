"""The AdminClient's results: concurrent.futures.Future objects, as confluent-kafka returns;
eventlog answers at once, so every future is created done."""
from __future__ import annotations

import concurrent.futures


def _done(value=None, exc=None):
    """A completed Future holding `value`, or failed with `exc`."""
    f = concurrent.futures.Future()
    if exc is not None:
        f.set_exception(exc)
    else:
        f.set_result(value)
    return f
