"""kafka-python 3.x behaviour the facade now mirrors (issue 13 item 3), checked against
kafka-python 3.0's source: delete_groups results, create_partitions' response object,
describe_groups member metadata, offsets_for_times on an unknown partition, and
KafkaProducer.max_usable_produce_magic."""
import time

import pytest

from eventlog.compat import kafka as kp


@pytest.fixture
def url(tmp_path):
    return f"eventlog://{tmp_path / 'log'}"


def test_delete_groups_says_ok_or_names_the_error(url):
    p = kp.KafkaProducer(bootstrap_servers=url)
    p.send("t", b"x").get(5)
    p.close()
    c = kp.KafkaConsumer("t", group_id="g", bootstrap_servers=url, auto_offset_reset="earliest")
    deadline = time.monotonic() + 10
    while not c.poll(timeout_ms=100) and time.monotonic() < deadline:
        pass
    c.commit()
    c.close()
    a = kp.KafkaAdminClient(bootstrap_servers=url)
    assert a.delete_groups(["g", "nope"]) == {"g": "OK", "nope": "GroupIdNotFoundError"}
    a.close()


def test_create_partitions_returns_a_response_with_results(url):
    a = kp.KafkaAdminClient(bootstrap_servers=url)
    a.create_topics([kp.admin.NewTopic("t", 1, 1)])
    r = a.create_partitions({"t": 3})
    assert [(x.name, x.error_code) for x in r.results] == [("t", 0)]
    r = a.create_partitions({"t": 2}, raise_errors=False)
    assert r.results[0].error_code == kp.errors.InvalidPartitionsError.errno
    a.close()


def test_describe_groups_members_have_decoded_metadata_and_assignment(url):
    a = kp.KafkaAdminClient(bootstrap_servers=url)
    a.create_topics([kp.admin.NewTopic("t", 2, 1)])
    c = kp.KafkaConsumer("t", group_id="g", bootstrap_servers=url)
    deadline = time.monotonic() + 10
    while len(c.assignment()) < 2 and time.monotonic() < deadline:
        c.poll(timeout_ms=100)
    [m] = a.describe_groups(["g"])["g"]["members"]
    assert m["member_metadata"]["topics"] == ["t"]
    assert m["member_assignment"]["assigned_partitions"] == [{"topic": "t", "partitions": [0, 1]}]
    c.close()
    a.close()


def test_offsets_for_times_unknown_topic_raises_kafka_timeout(url):
    c = kp.KafkaConsumer(bootstrap_servers=url)
    with pytest.raises(kp.errors.KafkaTimeoutError, match="Failed to get offsets by timestamps"):
        c.offsets_for_times({kp.TopicPartition("nope", 0): 0}, timeout_ms=100)
    c.close()


def test_max_usable_produce_magic():
    assert kp.KafkaProducer.max_usable_produce_magic((4, 0)) == 2
    assert kp.KafkaProducer.max_usable_produce_magic((0, 10, 1)) == 1
    assert kp.KafkaProducer.max_usable_produce_magic((0, 9)) == 0
