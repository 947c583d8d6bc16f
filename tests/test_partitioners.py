"""Tests of eventlog.clients.partitioners: hashes against Kafka/librdkafka vectors and an independent
reference, placement, sticky and round-robin behaviour, names and partition checks."""
import collections
import threading
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from eventlog.errors import EventLogError, InvalidArgumentError, InvalidTypeError
from eventlog.clients.partitioners import (
    PARTITIONER_NAMES, ConsistentPartitioner, ConsistentRandomPartitioner, DefaultPartitioner,
    Fnv1aPartitioner, Fnv1aRandomPartitioner, Murmur2Partitioner, Murmur2RandomPartitioner,
    RandomPartitioner, RoundRobinPartitioner, check_partition, fnv1a, get_partitioner,
    kafka_partition, murmur2, to_positive)


# ---------------------------------------------------------------------------------------------
# Independent references: straight ports of the Java / C loops with int32 arithmetic emulated.

def _int32(x):
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x >= (1 << 31) else x


def _ushr(x, n):  # Java's >>> on an int
    return (x & 0xFFFFFFFF) >> n


def java_murmur2(data):
    """Port of org.apache.kafka.common.utils.Utils.murmur2, one byte at a time."""
    length = len(data)
    seed = _int32(0x9747B28C)
    m = 0x5BD1E995
    r = 24
    h = _int32(seed ^ length)
    length4 = length // 4
    for i in range(length4):
        i4 = i * 4
        k = _int32((data[i4 + 0] & 0xFF) + ((data[i4 + 1] & 0xFF) << 8)
                   + ((data[i4 + 2] & 0xFF) << 16) + ((data[i4 + 3] & 0xFF) << 24))
        k = _int32(k * m)
        k = _int32(k ^ _ushr(k, r))
        k = _int32(k * m)
        h = _int32(h * m)
        h = _int32(h ^ k)
    rem = length % 4
    base = length & ~3
    if rem == 3:
        h = _int32(h ^ ((data[base + 2] & 0xFF) << 16))
    if rem >= 2:
        h = _int32(h ^ ((data[base + 1] & 0xFF) << 8))
    if rem >= 1:
        h = _int32(h ^ (data[base] & 0xFF))
        h = _int32(h * m)
    h = _int32(h ^ _ushr(h, 13))
    h = _int32(h * m)
    h = _int32(h ^ _ushr(h, 15))
    return h


def c_fnv1a(data):
    """Port of librdkafka's rd_fnv1a: int32 FNV-1a, then abs (C wraps INT32_MIN)."""
    h = _int32(0x811C9DC5)
    for b in data:
        h = _int32(h ^ b)
        h = _int32(h * 0x01000193)
    if h < 0:
        h = _int32(-h)
    return h & 0xFFFFFFFF


# ---------------------------------------------------------------------------------------------
# murmur2

KAFKA_VECTORS = {  # Kafka's UtilsTest.testMurmur2
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}

AKKA_VECTORS = {  # akka's Murmur2Spec, "expected correct hash values from the kafka impl"
    b"1": -1993445489,
    b"12": 126087238,
    b"123": -267702483,
    b"1234": -1614185708,
    b"12345": -1188365604,
}

LIBRDKAFKA_POSITIVE_VECTORS = {  # librdkafka rdmurmur2.c unit test: toPositive(murmur2(key))
    b"kafka": 1348980580,
    b"amqp": 767747138,
    b"giberish123456789": 257239820,
}


@pytest.mark.parametrize("key,expected", sorted(KAFKA_VECTORS.items()))
def test_murmur2_kafka_vectors(key, expected):
    assert murmur2(key) == expected
    assert java_murmur2(key) == expected  # the reference itself is right


@pytest.mark.parametrize("key,expected", sorted(AKKA_VECTORS.items()))
def test_murmur2_other_vectors(key, expected):
    assert murmur2(key) == expected


@pytest.mark.parametrize("key,expected", sorted(LIBRDKAFKA_POSITIVE_VECTORS.items()))
def test_murmur2_librdkafka_vectors(key, expected):
    assert to_positive(murmur2(key)) == expected


def test_murmur2_empty_and_lengths_around_word_boundaries():
    assert murmur2(b"") == java_murmur2(b"")
    data = bytes(range(256)) * 3
    for n in range(0, len(data) + 1):  # covers 0..3 tail bytes and the >64-word path
        assert murmur2(data[:n]) == java_murmur2(data[:n]), n


def test_murmur2_high_bytes_are_unsigned():
    for key in (b"\xff", b"\xff\xfe", b"\x80\x81\x82", b"\xff\xff\xff\xff", b"\x80" * 9):
        assert murmur2(key) == java_murmur2(key)


def test_murmur2_accepts_bytearray_and_memoryview():
    for key in KAFKA_VECTORS:
        assert murmur2(bytearray(key)) == KAFKA_VECTORS[key]
        assert murmur2(memoryview(key)) == KAFKA_VECTORS[key]


@pytest.mark.parametrize("bad", ["abc", "abcdefg", 123, None, 1.5])
def test_murmur2_rejects_non_bytes(bad):
    with pytest.raises(InvalidTypeError, match=type(bad).__name__):
        murmur2(bad)


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=300))
def test_murmur2_matches_reference(key):
    h = murmur2(key)
    assert h == java_murmur2(key)
    assert -(1 << 31) <= h < (1 << 31)


def test_to_positive_is_mask_not_abs():
    assert to_positive(0) == 0
    assert to_positive(5) == 5
    assert to_positive(-1) == 0x7FFFFFFF
    assert to_positive(-(1 << 31)) == 0
    assert to_positive(-973932308) == -973932308 & 0x7FFFFFFF


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.sampled_from([1, 2, 3, 6, 10, 12, 32, 100, 1000]))
def test_kafka_partition_placement(key, n):
    expected = (java_murmur2(key) & 0x7FFFFFFF) % n
    assert kafka_partition(key, n) == expected
    assert DefaultPartitioner()(key, n) == expected
    assert Murmur2Partitioner()(key, n) == expected
    assert Murmur2RandomPartitioner()(key, n) == expected


def test_kafka_partition_known_placements():
    # -973932308 & 0x7fffffff = 1173551340
    assert kafka_partition(b"21", 10) == 1173551340 % 10 == 0
    assert kafka_partition(b"abc", 7) == 479470107 % 7
    assert kafka_partition(b"anything", 1) == 0


@pytest.mark.parametrize("n", [0, -1, 2.0, True, None])
def test_kafka_partition_bad_count(n):
    with pytest.raises(InvalidArgumentError, match="num_partitions"):
        kafka_partition(b"k", n)


# ---------------------------------------------------------------------------------------------
# DefaultPartitioner

def test_default_keyed_uses_cache_consistently():
    p = DefaultPartitioner(cache_size=3)
    keys = [b"k%d" % i for i in range(20)]
    for _ in range(3):  # second and third pass hit the cache (and it gets cleared when full)
        for key in keys:
            assert p(key, 12) == kafka_partition(key, 12)
    assert len(p._cache) <= 3
    # same key, other partition counts: the cache holds the hash, not the partition
    for n in (1, 5, 64):
        assert p(b"k1", n) == kafka_partition(b"k1", n)


def test_default_keyed_cache_disabled_and_long_keys():
    p = DefaultPartitioner(cache_size=0)
    assert p(b"x", 9) == kafka_partition(b"x", 9)
    assert p._cache == {}
    q = DefaultPartitioner(max_cached_key_bytes=4)
    long_key = b"0123456789"
    assert q(long_key, 9) == kafka_partition(long_key, 9)
    assert long_key not in q._cache
    assert q(bytearray(b"ab"), 9) == kafka_partition(b"ab", 9)  # unhashable: not cached
    assert q(memoryview(b"ab"), 9) == kafka_partition(b"ab", 9)


def test_default_empty_key_is_hashed_not_sticky():
    p = DefaultPartitioner()
    assert p(b"", 100) == (murmur2(b"") & 0x7FFFFFFF) % 100


@pytest.mark.parametrize("kwargs", [{"cache_size": -1}, {"cache_size": 1.5},
                                    {"max_cached_key_bytes": -2}])
def test_default_bad_options(kwargs):
    with pytest.raises(InvalidArgumentError):
        DefaultPartitioner(**kwargs)


def test_sticky_keeps_partition_until_new_batch():
    p = DefaultPartitioner(seed=1)
    first = p(None, 8)
    assert 0 <= first < 8
    assert all(p(None, 8) == first for _ in range(100))
    assert p.sticky_partition(8) == first
    new = p.new_batch(8)
    assert new != first and 0 <= new < 8
    assert all(p(None, 8) == new for _ in range(100))


def test_sticky_previous_partition_guard():
    p = DefaultPartitioner(seed=2)
    first = p(None, 5)
    second = p.on_new_batch(5, first)
    assert second != first
    # a stale caller (still thinking `first` is sticky) does not move it again
    assert p.on_new_batch(5, first) == second
    assert p(None, 5) == second
    third = p.on_new_batch(5, second)
    assert third != second


def test_sticky_is_per_partition_count_and_independent_of_keyed():
    p = DefaultPartitioner(seed=3)
    a = p(None, 4)
    b = p(None, 1000)
    assert 0 <= a < 4 and 0 <= b < 1000
    p(b"key", 4)  # keyed records do not disturb the sticky partition
    assert p(None, 4) == a
    p.new_batch(1000)
    assert p(None, 4) == a


def test_sticky_single_partition():
    p = DefaultPartitioner()
    assert p(None, 1) == 0
    assert p.new_batch(1) == 0
    assert p(None, 1) == 0


def test_new_batch_before_first_use_and_bad_count():
    p = DefaultPartitioner(seed=4)
    q = p.new_batch(6)
    assert 0 <= q < 6 and p(None, 6) == q
    with pytest.raises(InvalidArgumentError, match="partition_count"):
        p.new_batch(0)


def test_sticky_spreads_over_all_partitions():
    p = DefaultPartitioner(seed=5)
    n = 8
    seen = collections.Counter()
    prev = p(None, n)
    for _ in range(4000):
        seen[p(None, n)] += 1
        nxt = p.new_batch(n, prev)
        assert nxt != prev
        prev = nxt
    assert set(seen) == set(range(n))
    assert min(seen.values()) > 4000 / n / 2  # roughly uniform


def test_sticky_thread_safety():
    p = DefaultPartitioner()
    n = 16
    errors = []

    def work():
        try:
            for i in range(2000):
                q = p(None, n)
                assert 0 <= q < n
                if i % 50 == 0:
                    assert 0 <= p.new_batch(n, q) < n
                assert p(b"k%d" % i, n) == kafka_partition(b"k%d" % i, n)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# ---------------------------------------------------------------------------------------------
# Round robin and random

def test_round_robin_cycles():
    p = RoundRobinPartitioner()
    assert [p(b"same", 4) for _ in range(9)] == [0, 1, 2, 3, 0, 1, 2, 3, 0]
    q = RoundRobinPartitioner()
    counts = collections.Counter(q(None, 7) for _ in range(700))
    assert counts == {i: 100 for i in range(7)}


def test_round_robin_threads_spread_evenly():
    p = RoundRobinPartitioner()
    out = []
    lock = threading.Lock()

    def work():
        local = [p(None, 5) for _ in range(1000)]
        with lock:
            out.extend(local)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert collections.Counter(out) == {i: 800 for i in range(5)}


def test_random_partitioner_spreads_and_ignores_keys():
    p = RandomPartitioner(seed=7)
    counts = collections.Counter(p(b"same", 6) for _ in range(3000))
    assert set(counts) == set(range(6))


# ---------------------------------------------------------------------------------------------
# librdkafka-compatible hash partitioners

@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=64), st.integers(1, 500))
def test_consistent_is_crc32(key, n):
    assert ConsistentPartitioner()(key, n) == zlib.crc32(key) % n
    assert ConsistentRandomPartitioner()(key, n) == zlib.crc32(key) % n


def test_consistent_null_and_empty_keys_go_to_partition_zero():
    p = ConsistentPartitioner()
    assert zlib.crc32(b"") == 0
    assert p(None, 9) == 0
    assert p(b"", 9) == 0


def test_consistent_random_null_and_empty_keys_are_random():
    p = ConsistentRandomPartitioner(seed=8)
    assert set(p(None, 4) for _ in range(400)) == {0, 1, 2, 3}
    assert set(p(b"", 4) for _ in range(400)) == {0, 1, 2, 3}


def test_murmur2_null_key_maps_to_one_partition():
    p = Murmur2Partitioner()
    expected = (murmur2(b"") & 0x7FFFFFFF) % 10
    assert {p(None, 10) for _ in range(50)} == {expected}


def test_murmur2_random_null_key_random_but_empty_key_hashed():
    p = Murmur2RandomPartitioner(seed=9)
    assert set(p(None, 3) for _ in range(300)) == {0, 1, 2}
    assert {p(b"", 3) for _ in range(20)} == {(murmur2(b"") & 0x7FFFFFFF) % 3}


FNV_VECTORS = {  # librdkafka rdfnv1a.c unit test (Go hash/fnv results)
    b"kafka": 0xD33C4E1,
    b"giberish123456789": 0x77A58295,
    b"1234": 0x23BDD03,
    b"234": 0x2DEA3CD2,
    b"34": 0x740FA83E,
    b"4": 0x310CA263,
    b"PreAmbleWillBeRemoved,ThePrePartThatIs": 0x65CBD69C,
    b"reAmbleWillBeRemoved,ThePrePartThatIs": 0x6E49C79A,
    b"eAmbleWillBeRemoved,ThePrePartThatIs": 0x69EED356,
    b"AmbleWillBeRemoved,ThePrePartThatIs": 0x6ABCC023,
    b"": 0x7EE3623B,
}


@pytest.mark.parametrize("key,expected", sorted(FNV_VECTORS.items()))
def test_fnv1a_vectors(key, expected):
    assert fnv1a(key) == expected
    assert c_fnv1a(key) == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(1, 500))
def test_fnv1a_matches_reference(key, n):
    assert fnv1a(key) == c_fnv1a(key)
    assert Fnv1aPartitioner()(key, n) == c_fnv1a(key) % n
    assert Fnv1aRandomPartitioner()(key, n) == c_fnv1a(key) % n


def test_fnv1a_null_keys():
    assert {Fnv1aPartitioner()(None, 10) for _ in range(20)} == {0x7EE3623B % 10}
    p = Fnv1aRandomPartitioner(seed=10)
    assert set(p(None, 3) for _ in range(300)) == {0, 1, 2}


def test_fnv1a_rejects_str():
    with pytest.raises(InvalidTypeError, match="str"):
        fnv1a("kafka")


# ---------------------------------------------------------------------------------------------
# get_partitioner

@pytest.mark.parametrize("name,cls", [
    ("default", DefaultPartitioner), ("sticky", DefaultPartitioner),
    ("round_robin", RoundRobinPartitioner), ("random", RandomPartitioner),
    ("consistent", ConsistentPartitioner), ("consistent_random", ConsistentRandomPartitioner),
    ("murmur2", Murmur2Partitioner), ("murmur2_random", Murmur2RandomPartitioner),
    ("fnv1a", Fnv1aPartitioner), ("fnv1a_random", Fnv1aRandomPartitioner),
])
def test_get_partitioner_names(name, cls):
    assert name in PARTITIONER_NAMES
    p = get_partitioner(name)
    assert isinstance(p, cls)
    assert 0 <= p(b"key", 5) < 5
    assert 0 <= p(None, 5) < 5
    assert get_partitioner(name) is not p  # fresh state per call


def test_get_partitioner_none_and_callable():
    assert isinstance(get_partitioner(None), DefaultPartitioner)

    def mine(key, n):
        return 0

    assert get_partitioner(mine) is mine
    inst = RoundRobinPartitioner()
    assert get_partitioner(inst) is inst


@pytest.mark.parametrize("bad", ["Murmur2", "murmur3", "", "roundrobin"])
def test_get_partitioner_unknown_name(bad):
    with pytest.raises(InvalidArgumentError) as info:
        get_partitioner(bad)
    msg = str(info.value)
    assert repr(bad) in msg
    for name in PARTITIONER_NAMES:
        assert name in msg
    assert isinstance(info.value, EventLogError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", [42, b"murmur2", ["murmur2"]])
def test_get_partitioner_not_callable(bad):
    with pytest.raises(InvalidTypeError, match=type(bad).__name__):
        get_partitioner(bad)


def test_get_partitioner_class_instead_of_instance():
    with pytest.raises(InvalidTypeError, match=r"DefaultPartitioner\(\)"):
        get_partitioner(DefaultPartitioner)


# ---------------------------------------------------------------------------------------------
# check_partition

def test_check_partition_accepts_in_range():
    assert check_partition(0, 1, "p") == 0
    assert check_partition(4, 5, "p") == 4

    class MyInt(int):
        pass

    r = check_partition(MyInt(2), 3, "p")
    assert r == 2 and type(r) is int


@pytest.mark.parametrize("p,count", [(-1, 3), (3, 3), (100, 3), (0, 0)])
def test_check_partition_out_of_range(p, count):
    with pytest.raises(InvalidArgumentError) as info:
        check_partition(p, count, "partitioner mine")
    msg = str(info.value)
    assert "partitioner mine" in msg and str(p) in msg and f"[0, {count})" in msg


@pytest.mark.parametrize("p", [1.0, "1", None, True, False, b"\x01"])
def test_check_partition_wrong_type(p):
    with pytest.raises(InvalidArgumentError) as info:
        check_partition(p, 3, "x")
    msg = str(info.value)
    assert type(p).__name__ in msg and "[0, 3)" in msg


def test_check_partition_names_callable_source():
    def my_partitioner(key, n):
        return n

    with pytest.raises(InvalidArgumentError, match="my_partitioner"):
        check_partition(my_partitioner(b"k", 4), 4, my_partitioner)
    with pytest.raises(InvalidArgumentError, match="RoundRobinPartitioner"):
        check_partition(9, 4, RoundRobinPartitioner())
