"""The facades' import surface: every public name of every public module of the real client
packages (both installed as test dependencies) exists in the facade's module of the same name,
and `eventlog.compat.patch` makes each of those modules importable under the real name.

A name counts as public when it does not start with "_" and is defined by the real package
itself (not re-exported typing or standard-library helpers); for a plain module (not a
package's __init__) only the names it defines count, not what it imports. The few left out are listed with
the reason: internals of the real client's network layer that no application imports.
"""
import importlib
import subprocess
import sys
import types
import typing

import pytest

ck_real = pytest.importorskip("confluent_kafka")
kafka_real = pytest.importorskip("kafka")

CONFLUENT = ["confluent_kafka", "confluent_kafka.cimpl", "confluent_kafka.admin", "confluent_kafka.error",
             "confluent_kafka.serialization", "confluent_kafka.serializing_producer",
             "confluent_kafka.deserializing_consumer"]
KAFKA = ["kafka", "kafka.admin", "kafka.consumer", "kafka.producer", "kafka.errors", "kafka.structs",
         "kafka.serializer", "kafka.serializer.abstract", "kafka.serializer.default", "kafka.serializer.json",
         "kafka.serializer.wrapper", "kafka.codec", "kafka.util", "kafka.partitioner", "kafka.future",
         "kafka.version", "kafka.producer.future", "kafka.coordinator.assignors.abstract",
         "kafka.coordinator.assignors.range", "kafka.coordinator.assignors.roundrobin",
         "kafka.coordinator.assignors.cooperative_sticky", "kafka.coordinator.assignors.sticky.sticky_assignor"]

# names of the real modules that are the client's own machinery, not API (why they are left out)
INTERNAL = {
    # the network coordinator and its metrics: eventlog's group layer coordinates
    "kafka.coordinator.base": None,
    # producer future internals (a produce-request result shared by a batch)
    "kafka.producer.future": {"FutureProduceResult", "Timer"},
    # future's module-level imports
    "kafka.future": {"RetriableError"},
    # the abstract assignor's wire-protocol helper types
    "kafka.coordinator.assignors.abstract": {"ConsumerProtocolAssignment", "ConsumerProtocolSubscription",
                                             "RebalanceProtocol"},
    # the sticky assignor's algorithm helpers (eventlog runs its own sticky assignor)
    "kafka.coordinator.assignors.sticky.sticky_assignor": {
        "ConsumerGenerationPair", "StickyAssignmentExecutor", "StickyAssignorMemberMetadataV1",
        "has_identical_list_elements", "partitions_comparator_key", "remove_if_present",
        "subscriptions_comparator_key"},
}
# names only needed where both sides import a stdlib module under a public name
STDLIB_VALUES = (types.ModuleType,)


def _public(mod, root):
    plain = not hasattr(mod, "__path__") and mod.__name__ != "confluent_kafka.cimpl"
    out = set()
    for n in dir(mod):
        if n.startswith("_") or n == "TYPE_CHECKING":
            continue
        o = getattr(mod, n)
        if isinstance(o, STDLIB_VALUES) or isinstance(o, typing.TypeVar):
            continue
        owner = getattr(o, "__module__", None)
        if isinstance(o, (int, str, float, tuple, dict, bool)) or o is None:
            out.add(n)                      # constants defined by the module
        elif owner and (owner == mod.__name__ if plain else owner.split(".")[0] == root):
            out.add(n)
    return out


def _missing(name):
    real = importlib.import_module(name)
    root = name.split(".")[0]
    facade = importlib.import_module("eventlog.compat." + name)
    skip = INTERNAL.get(name, set())
    return sorted(n for n in _public(real, root) - skip if not hasattr(facade, n))


@pytest.mark.parametrize("name", CONFLUENT + KAFKA)
def test_facade_module_has_every_public_name_of_the_real_one(name):
    assert _missing(name) == [], f"eventlog.compat.{name} lacks these names of {name}"


def test_member_state_and_generation_of_the_coordinator():
    from eventlog.compat.kafka.coordinator import base
    import kafka.coordinator.base as real
    assert base.MemberState.STABLE == real.MemberState.STABLE
    assert base.MemberState is importlib.import_module("eventlog.compat.kafka.structs").MemberState
    assert base.Generation.NO_GENERATION.generation_id == real.Generation.NO_GENERATION.generation_id


def test_patched_modules_resolve_under_the_real_names():
    """In a fresh interpreter: after patch(), `import X` for every module above gives the facade."""
    code = (
        "import importlib, eventlog.compat\n"
        "eventlog.compat.patch('kafka', 'confluent_kafka')\n"
        f"for n in {CONFLUENT + KAFKA + ['kafka.coordinator.base', 'kafka.protocol.broker_version_data']!r}:\n"
        "    m = importlib.import_module(n)\n"
        "    assert m.__name__.startswith('eventlog.compat.'), (n, m.__name__)\n"
        "import confluent_kafka.admin, kafka.admin\n"
        "from confluent_kafka.admin import ConfigResource, AclBinding, OffsetSpec\n"
        "from kafka.admin import ACL, OffsetSpec\n"
        "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_values_of_enums_and_constants_match_the_real_client():
    import confluent_kafka.admin as ra
    import eventlog.compat.confluent_kafka.admin as fa
    import eventlog.compat.confluent_kafka.cimpl as fc
    import confluent_kafka.cimpl as rc
    import eventlog.compat.kafka.admin as fka
    for e in ("ResourceType", "ResourcePatternType", "AclOperation", "AclPermissionType", "AlterConfigOpType",
              "ConfigSource", "ScramMechanism"):
        assert {m.name: m.value for m in getattr(fa, e)} == {m.name: m.value for m in getattr(ra, e)}, e
    import eventlog.compat.confluent_kafka as fck
    for e in ("ConsumerGroupType", "ConsumerGroupState", "IsolationLevel", "ElectionType", "AcknowledgeType"):
        assert {m.name: m.value for m in getattr(fck, e)} == {m.name: m.value for m in getattr(ck_real, e)}, e
    for n in dir(rc):
        if n.isupper():
            assert getattr(fc, n) == getattr(rc, n), n
    for e in ("ResourceType", "ACLOperation", "ACLPermissionType", "ACLResourcePatternType", "OffsetSpec",
              "ConfigResourceType", "AlterConfigOp", "ConfigSourceType", "GroupState"):
        assert {m.name: m.value for m in getattr(fka, e)} == \
            {m.name: m.value for m in getattr(kafka_real.admin, e)}, e
    assert {m.name: m.value for m in fka.IsolationLevel} == {m.name: m.value for m in kafka_real.IsolationLevel}


def test_kafka_codec_util_and_serializers_behave_as_the_real_ones():
    from eventlog.compat.kafka import codec, util, serializer
    import kafka.codec as rcodec
    import kafka.util as rutil
    data = b"x" * 1000
    assert rcodec.gzip_decode(codec.gzip_encode(data)) == data
    assert codec.zstd_decode(rcodec.zstd_encode(data)) == data if rcodec.has_zstd() else True
    assert codec.has_snappy() is False
    with pytest.raises(NotImplementedError):
        codec.snappy_encode(data)
    for bad in ("", ".", "..", "a" * 250, "a b", None, 3):
        with pytest.raises(Exception) as real_e:
            rutil.ensure_valid_topic_name(bad)
        with pytest.raises(type(real_e.value)):
            util.ensure_valid_topic_name(bad)
    util.ensure_valid_topic_name("ok.topic-1_x")
    j = serializer.JsonSerializer()
    assert j.deserialize("t", None, j.serialize("t", None, {"a": 1})) == {"a": 1}
    assert serializer.DefaultSerializer().serialize("t", None, "é") == "é".encode()


def test_calls_eventlog_cannot_serve_fail_as_on_a_broker_without_the_feature(tmp_path):
    from eventlog.compat import confluent_kafka as ck
    from eventlog.compat.confluent_kafka import admin as ca
    a = ca.AdminClient({"bootstrap.servers": f"eventlog://{tmp_path}"})
    acl = ca.AclBinding(ca.ResourceType.TOPIC, "t", ca.ResourcePatternType.LITERAL, "User:a", "*",
                        ca.AclOperation.READ, ca.AclPermissionType.ALLOW)
    with pytest.raises(ck.KafkaException) as e:
        a.create_acls([acl])[acl].result()
    assert e.value.args[0].code() == ck.KafkaError.SECURITY_DISABLED
    with pytest.raises(ValueError):
        a.create_acls([acl, acl])
    with pytest.raises(TypeError):
        a.describe_acls(acl)
    with pytest.raises(ck.KafkaException):
        ck.ShareConsumer({"group.id": "g"})
    with pytest.raises(ValueError):
        ca.AclBinding(ca.ResourceType.ANY, "t", ca.ResourcePatternType.LITERAL, "User:a", "*",
                      ca.AclOperation.READ, ca.AclPermissionType.ALLOW)
    a.close()
