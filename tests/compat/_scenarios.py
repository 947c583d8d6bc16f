"""The differential harness: a scenario is a function of a `Side` that drives a client and
returns what an application could observe (records, keys, partitions, offsets, headers,
commits, callbacks, error types). Each runs once with the real client on a real Kafka broker
(tests/kafka_broker.py) and once with eventlog's facade; the results must be equal.

`differs` marks a scenario where the facade is known to differ from the real client today: the
test stays and is an xfail(strict=True) naming the difference, so it turns red when fixed.
"""
import time

import pytest

# Record timestamps the scenarios set: an hour before the session started, the same on both
# sides. Not fixed dates: the broker deletes records older than retention.ms (7 days by
# default) on its own schedule, which would race with the scenario.
T0 = (int(time.time()) // 3600 - 1) * 3600 * 1000


class Scenario:
    def __init__(self, fn, differs=None):
        self.fn = fn
        self.name = fn.__name__
        self.differs = differs

    def __repr__(self):
        return self.name


def registry():
    items = []

    def scenario(fn=None, *, differs=None):
        def add(f):
            items.append(Scenario(f, differs))
            return f
        return add(fn) if fn is not None else add

    return items, scenario


def params(items):
    """pytest params of `items`: known differences as strict xfails naming the difference."""
    return [pytest.param(sc, id=sc.name, marks=[pytest.mark.xfail(strict=True, reason=sc.differs)]
                         if sc.differs else []) for sc in items]


def run_pair(sc, sides):
    real, fac = sides
    results = {}
    for side in (real, fac):
        try:
            results[side.name] = sc.fn(side)
        except Exception as e:
            raise AssertionError(f"scenario {sc.name} failed on the {side.name} side: "
                                 f"{type(e).__name__}: {e}") from e
        finally:
            side.close_all()
    assert results["facade"] == results["real"], (
        f"{sc.name}: the facade differs from the real client\n  real:   {results['real']!r}\n"
        f"  facade: {results['facade']!r}")


def until(fn, timeout=20.0, interval=0.0):
    """Call fn() until it returns a true value; return it (or the last value at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        if interval:
            time.sleep(interval)


def exc_name(fn, *a, **k):
    """The class name of what fn raises (None if it returns)."""
    try:
        fn(*a, **k)
    except Exception as e:
        return type(e).__name__
    return None
