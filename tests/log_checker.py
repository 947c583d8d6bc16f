"""The storage invariant checker as the tests use it: run at the end of every crash, stress
and multi-process test (as sortedcontainers runs `_check()` after every random operation)."""
import eventlog


def assert_log_consistent(path, topics=None, *, allow_warnings=True, quarantine_files=None):
    """Open the log at `path`, run `Log.verify()` and fail with every problem found if the
    on-disk state breaks an invariant. `allow_warnings=False` also fails on warnings (a
    torn tail or a stale index: fine after kill -9, not after clean runs).
    `quarantine_files`, if given, is the number of quarantine files expected. Returns the
    report."""
    with eventlog.open(path) as lg:
        report = lg.verify(topics)
    bad = report.problems if not allow_warnings else report.errors
    assert not bad, f"the log at {path} is inconsistent:\n{report}"
    if quarantine_files is not None:
        assert report.quarantine_files == quarantine_files, str(report)
    return report
