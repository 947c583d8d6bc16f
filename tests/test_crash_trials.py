"""The crash-trial runner (stress/crash_trials.py) in CI: a bounded number of seeded trials of
every kind (kill -9 of concurrent writers, simulated power cut, torn tails, damage inside the
last batches, index damage), each followed by reopen, the checker, a full read, read/end_offset
agreement and a new append. Asserts: 0 acknowledged records lost, 0 corrupt or invented
records, 0 read/end_offset disagreements, no exceptions. EVENTLOG_STRESS=1 runs many more.

Damage inside the last batches ("mid") is resynchronised: only the damaged bytes are
quarantined (an explicit, accounted gap), the valid batches after them stay readable; damage
in a closed segment is repaired with `eventlog verify --repair --yes` before the repaired
state is judged."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stress import crash_trials as ct  # noqa: E402

STRESS = bool(os.environ.get("EVENTLOG_STRESS"))
CI_TRIALS = {"kill": 6, "power": 6, "tail": 60, "index": 60, "mid": 40, "txkill": 30, "txpower": 30}

def _summary(t, kind):
    return f"\n{t.table()}"


def _assert_clean(t, kind):
    k = t.by_kind[kind]
    assert k["trials"] == CI_TRIALS.get(kind, k["trials"]) or STRESS
    assert k["lost"] == 0, _summary(t, kind)
    assert k["corrupt"] == 0, _summary(t, kind)
    assert k["disagree"] == 0, _summary(t, kind)
    assert not t.exceptions[kind], _summary(t, kind)
    assert k["checker_err"] == 0, _summary(t, kind)
    assert k["failed"] == 0, _summary(t, kind)


@pytest.mark.parametrize("kind", ["kill", "power", "tail", "index"])
def test_trials(tmp_path, kind):
    t = ct.run((kind,), CI_TRIALS[kind], seed=20240611, workdir=str(tmp_path))
    _assert_clean(t, kind)
    assert t.by_kind[kind]["acked"] > 0


@pytest.fixture(scope="module")
def mid(tmp_path_factory):
    return ct.run(("mid",), CI_TRIALS["mid"], seed=20240611, workdir=str(tmp_path_factory.mktemp("mid")))


def test_mid_returns_nothing_corrupt_and_raises_nothing(mid):
    k = mid.by_kind["mid"]
    assert k["trials"] == CI_TRIALS["mid"]
    assert k["corrupt"] == 0, _summary(mid, "mid")
    assert not mid.exceptions["mid"], _summary(mid, "mid")


def test_mid_loses_no_acknowledged_record(mid):
    assert mid.by_kind["mid"]["lost"] == 0, _summary(mid, "mid")


def test_mid_damage_is_reported_loudly(mid):
    # a torn tail (no valid batch after the damage) may be cut quietly (the crash rule);
    # damage followed by a valid batch never
    assert mid.by_kind["mid"]["silent_fail"] == 0, _summary(mid, "mid")
    assert mid.by_kind["mid"]["loud"] > 0, _summary(mid, "mid")


def test_mid_read_and_end_offset_agree(mid):
    assert mid.by_kind["mid"]["disagree"] == 0, _summary(mid, "mid")


def test_mid_trials_all_pass(mid):
    _assert_clean(mid, "mid")
    assert mid.by_kind["mid"]["acked"] > 0


def test_mid_repaired_state_passes_the_checker(mid):
    assert mid.by_kind["mid"]["checker_err"] == 0, _summary(mid, "mid")


def test_damage_trials_are_reproducible(tmp_path):
    """Same kind and seed, same damage and same findings (the replay promise)."""
    for kind in ("tail", "mid", "index"):
        ts = ct.trial_seed(7, kind, 3)
        a, _ = ct.damage_trial(kind, ts, str(tmp_path / "a"))
        b, _ = ct.damage_trial(kind, ts, str(tmp_path / "b"))
        for f in ("variant", "acked", "ok", "lost", "damaged", "corrupt", "n_disagree", "fail"):
            assert getattr(a, f) == getattr(b, f), (kind, f)


def test_payloads_check_themselves():
    v = ct.payload(1, 2, 3, 3, 1, b"filler")
    assert ct.parse_payload(v) == (1, 2, 3, 3, 1)
    for i in range(len(v)):
        bad = bytearray(v)
        bad[i] ^= 0x10
        assert ct.parse_payload(bytes(bad)) is None


STRESS_TRIALS = 400


@pytest.mark.slow
@pytest.mark.skipif(not STRESS, reason="set EVENTLOG_STRESS=1 for the long crash-trial run")
@pytest.mark.parametrize("kind", ["kill", "power", "tail", "index", "mid", "txkill", "txpower"])
def test_many_trials(tmp_path, kind):
    t = ct.run((kind,), STRESS_TRIALS, seed=int(os.environ.get("EVENTLOG_STRESS_SEED", "1")),
               workdir=str(tmp_path))
    _assert_clean(t, kind)


# -- transactional kinds (stress/txn_trials.py): the commit protocol killed / power-cut ---------

@pytest.mark.parametrize("kind", ["txkill", "txpower"])
def test_transaction_trials(tmp_path, kind):
    """kill -9 or a power cut at each step of the commit protocol (and at random moments),
    recovered by init_transactions() or by the timeout (an injected clock): every
    transaction all or nothing, acknowledged commits kept, acknowledged aborts invisible,
    the group's offsets committed iff their transaction is, no open transaction or stuck
    read_committed reader left, verify() clean, the ids usable again."""
    t = ct.run((kind,), CI_TRIALS[kind], seed=20240611, workdir=str(tmp_path))
    _assert_clean(t, kind)
    k = t.by_kind[kind]
    assert k["tx_acked"] > 0 and k["tx_rolled_fwd"] > 0 and k["tx_rolled_back"] > 0, _summary(t, kind)
    assert k["offsets_bad"] == 0 and k["mixed"] == 0, _summary(t, kind)


@pytest.mark.parametrize("seed, bug", [
    # the log opened with fsync=None: the offset store does not fsync, and COMPLETE_COMMIT
    # (fsynced) survived a power cut that took the committed transaction's offsets
    (951810240087, "offsets"),
    # transactions/ was made without fsyncing its entry in the log directory: a power cut
    # took every state file, leaving transactional batches no one could end (read_committed
    # readers stuck for good, `eventlog transactions abort` not knowing the id)
    (270386648486, "state directory"),
])
def test_transaction_power_cut_regressions(tmp_path, seed, bug):
    box = [None]
    try:
        res, _path = ct.one_trial("txpower", seed, str(tmp_path), box)
    finally:
        if box[0] is not None:
            box[0].close()
    assert not res.fail, (bug, res.variant, res.fail, res.notes)


def test_transaction_power_cut_on_fsync_never_topics_regression(tmp_path):
    """Topics with fsync="never" (the default): a transaction's batches were written unsynced
    while its decision and markers were fsynced, so a power cut after the commit kept the
    commit and dropped part of its data (a committed transaction visible in part, holes
    before a later segment). Transactional batches are now fsynced whatever the topic says."""
    from stress import txn_trials
    server = ct.ForkServer()
    try:
        for seed in (823952090451, 553015888645):
            res, _path = txn_trials.trial("txpower", seed, str(tmp_path), server, topic_fsync="never")
            assert not res.fail, (seed, res.variant, res.fail, res.notes)
    finally:
        server.close()
