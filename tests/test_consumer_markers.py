"""The core consumer around transaction markers: `end_offsets` is the last stable offset under
read_committed (as Kafka's consumer reports it), and a read_uncommitted consumer's position
moves past a marker (which holds no record), so it reaches the partition's end."""
import eventlog
from eventlog import TopicPartition


def _open_txn(tmp_path):
    log = eventlog.open(tmp_path / "log")
    log.create_topic("t", partitions=1)
    with log.producer() as p:
        p.send("t", value=b"plain", partition=0)
    txp = log.producer(transactional_id="tx")
    txp.init_transactions()
    txp.begin_transaction()
    txp.send("t", value=b"open", partition=0)
    txp.flush()
    return log, txp


def test_end_offsets_is_the_last_stable_offset_under_read_committed(tmp_path):
    log, txp = _open_txn(tmp_path)
    tp = TopicPartition("t", 0)
    rc = log.consumer(isolation_level="read_committed", auto_offset_reset="earliest")
    ru = log.consumer(auto_offset_reset="earliest")
    assert rc.end_offsets([tp]) == {tp: 1} and ru.end_offsets([tp]) == {tp: 2}
    rc.assign([tp])
    assert [r.value for r in rc.poll(0.2)] == [b"plain"]
    assert rc.end_offsets([tp]) == {tp: 1}            # from the fetch's own view too
    txp.commit_transaction()
    assert rc.end_offsets([tp]) == {tp: 3} and ru.end_offsets([tp]) == {tp: 3}
    for c in (rc, ru):
        c.close()
    txp.close()
    log.close()


def test_a_read_uncommitted_position_moves_past_a_trailing_marker(tmp_path):
    log, txp = _open_txn(tmp_path)
    txp.commit_transaction()                          # marker at offset 2
    tp = TopicPartition("t", 0)
    c = log.consumer(auto_offset_reset="earliest")
    c.assign([tp])
    got = []
    for _ in range(5):
        got += [r.value for r in c.poll(0.1)]
        if c.position(tp) == 3:
            break
    assert got == [b"plain", b"open"]
    assert c.position(tp) == 3
    c.close()
    txp.close()
    log.close()
