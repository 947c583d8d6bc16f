"""The differential harness: a scenario is a function of a `Side` that drives a client and
returns what an application could observe (records, keys, partitions, offsets, headers,
commits, callbacks, error types). Each runs once with the real client on librdkafka's mock
cluster and once with eventlog's facade; the results must be equal.

`skip` marks a scenario the mock cannot run (a known limit of the mock, not of the facade);
the facade's behaviour there is checked by tests/compat/test_facade.py instead.
"""
import time

import pytest


class Scenario:
    def __init__(self, fn, skip=None, mock_flake=None):
        self.fn = fn
        self.name = fn.__name__
        self.skip = skip
        self.mock_flake = mock_flake  # (exception class names joined by "|", why): tried 3 times, then skipped

    def __repr__(self):
        return self.name


def registry():
    items = []

    def scenario(fn=None, *, skip=None, mock_flake=None):
        def add(f):
            items.append(Scenario(f, skip, mock_flake))
            return f
        return add(fn) if fn is not None else add

    return items, scenario


def run_pair(sc, sides):
    if sc.skip:
        pytest.skip(sc.skip)
    real, fac = sides
    results = {}
    for side in (real, fac):
        t0 = time.monotonic()
        try:
            attempts = 3 if side is real and sc.mock_flake is not None else 1
            for attempt in range(attempts):
                try:
                    results[side.name] = sc.fn(side)
                    break
                except Exception as e:
                    if attempts == 1 or type(e).__name__ not in sc.mock_flake[0].split("|"):
                        raise
                    side.close_all()
                    if attempt == attempts - 1:
                        pytest.skip(f"known mock limit, seen {attempts} times: {sc.mock_flake[1]}")
        except Exception as e:
            raise AssertionError(f"scenario {sc.name} failed on the {side.name} side: "
                                 f"{type(e).__name__}: {e}") from e
        finally:
            side.close_all()
        results[side.name + "_s"] = time.monotonic() - t0
    if results["facade"] != results["real"]:
        # The real client on the mock is not deterministic (metadata races, rebalance timing):
        # before calling it a difference, run the real side again on fresh mock clusters, with
        # the same names. The facade passes only if it matches an outcome the real client had.
        for _ in range(2):
            if _rerun_real(sc, real) == results["facade"]:
                return
    assert results["facade"] == results["real"], (
        f"{sc.name}: the facade differs from the real client\n  real:   {results['real']!r}\n"
        f"  facade: {results['facade']!r}")


def _rerun_real(sc, real):
    """One more run of `sc` with the real client, on a new mock cluster; None if it fails."""
    import _mock
    mc = _mock.MockCluster.start()
    if mc is None:
        return None
    side = type(real)("real", real.prefix, kafka=real.kafka, ck=real.ck, bootstrap=mc.bootstrap, mock=mc)
    try:
        return sc.fn(side)
    except Exception:
        return None
    finally:
        side.close_all()
        mc.close()


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
