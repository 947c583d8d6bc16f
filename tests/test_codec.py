"""Properties of the pure batch codec: every batch round-trips, and any bytes that are not
exactly one valid batch are refused with CorruptBatchError (never another exception, never
a hang, never part of a batch)."""
import struct
import zlib

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog.storage import codec as _codec
from eventlog.storage.codec import HEADER, HEADER_SIZE
from eventlog.errors import CorruptBatchError

CODEC_SETTINGS = settings(deadline=None, max_examples=150,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

small_bytes = st.binary(max_size=40)
maybe_bytes = st.none() | small_bytes
header_pair = st.tuples(st.text(max_size=8), maybe_bytes)
headers_one = st.lists(header_pair, max_size=3).map(tuple)
# within ±2**61 so that every delta from the first timestamp fits in an int64
ts = st.integers(min_value=-(1 << 61), max_value=(1 << 61))
codecs = st.sampled_from([_codec.CODEC_NONE, _codec.CODEC_ZSTD])


@st.composite
def batches(draw):
    """(encode kwargs, expected decoded records)."""
    n = draw(st.integers(min_value=1, max_value=30))
    values = draw(st.lists(maybe_bytes, min_size=n, max_size=n))
    key_mode = draw(st.sampled_from(["none", "all", "mixed"]))
    if key_mode == "none":
        keys = None
    elif key_mode == "all":
        keys = draw(st.lists(small_bytes, min_size=n, max_size=n))
    else:
        keys = draw(st.lists(maybe_bytes, min_size=n, max_size=n))
    headers = draw(st.none() | st.lists(headers_one, min_size=n, max_size=n))
    ts0 = draw(ts)
    ts_mode = draw(st.sampled_from(["uniform", "list-uniform", "varying"]))
    if ts_mode == "uniform":
        timestamps = None
    elif ts_mode == "list-uniform":
        timestamps = [ts0] * n
    else:
        timestamps = draw(st.lists(ts, min_size=n, max_size=n))
    deltas = None
    if draw(st.booleans()):
        deltas = sorted(draw(st.sets(st.integers(min_value=0, max_value=1 << 20), min_size=n, max_size=n)))
    base = draw(st.integers(min_value=0, max_value=1 << 62))
    codec = draw(codecs)
    kw = dict(base_offset=base, keys=keys, values=values, timestamp_ms=ts0, timestamps=timestamps,
              headers=headers, codec=codec, offset_deltas=deltas, compacted=deltas is not None)
    offsets = [base + d for d in deltas] if deltas is not None else list(range(base, base + n))
    tss = timestamps if timestamps is not None else [ts0] * n
    ks = keys if keys is not None else [None] * n
    hs = headers if headers is not None else [()] * n
    expected = [(o, t, k, v, tuple(h)) for o, t, k, v, h in zip(offsets, tss, ks, values, hs)]
    return kw, expected


def _encode(kw):
    kw = dict(kw)
    return _codec.encode(kw.pop("base_offset"), kw.pop("keys"), kw.pop("values"), kw.pop("timestamp_ms"), **kw)


@CODEC_SETTINGS
@given(batches())
def test_round_trip(case):
    kw, expected = case
    data = _encode(kw)
    assert _codec.decode(data) == expected
    # the same bytes are found by the header walk used for recovery
    walked = list(_codec.batch_iter(data + data[:HEADER_SIZE + 3]))
    assert [(p, i.base_offset, i.count) for p, i in walked] == [(0, kw["base_offset"], len(expected))]
    info = walked[0][1]
    assert info.last_offset == expected[-1][0]
    assert info.max_timestamp == max(r[1] for r in expected)


@CODEC_SETTINGS
@given(batches(), st.data())
def test_any_single_byte_flip_is_refused(case, data):
    kw, _ = case
    raw = bytearray(_encode(kw))
    i = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    raw[i] ^= data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(CorruptBatchError):
        _codec.decode(bytes(raw))


@CODEC_SETTINGS
@given(batches(), st.data())
def test_truncated_or_extended_batch_is_refused(case, data):
    kw, _ = case
    raw = _encode(kw)
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    with pytest.raises(CorruptBatchError):
        _codec.decode(raw[:cut])
    with pytest.raises(CorruptBatchError):
        _codec.decode(raw + data.draw(st.binary(min_size=1, max_size=20)))


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_refused(data):
    with pytest.raises(CorruptBatchError):
        _codec.decode(data)


@settings(deadline=None, max_examples=200)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_after_a_valid_magic_are_refused(data):
    with pytest.raises(CorruptBatchError):
        _codec.decode(b"EL\x01\x00" + data)


def forge(body, *, attributes=0, base=0, last_delta=0, count=1, first_ts=0, max_ts=0,
          section_len=None, reserved=(0, 0)):
    """A batch with a correct magic, length and CRC around arbitrary header fields and body:
    everything the CRC cannot catch."""
    if section_len is None:
        section_len = len(body)
    length = HEADER_SIZE + len(body)
    head = HEADER.pack(b"EL", 1, 0, length, 0, attributes, reserved[0], base, last_delta, count,
                       first_ts, max_ts, section_len, reserved[1])
    crc = zlib.crc32(body, zlib.crc32(head[12:]))
    return head[:8] + struct.pack("<I", crc) + head[12:] + body


def _check_decoded(recs, info_count, base):
    """A forged batch may happen to be valid: then it must decode whole and well-typed."""
    assert len(recs) == info_count
    for off, t, k, v, h in recs:
        assert isinstance(off, int) and off >= base
        assert isinstance(t, int)
        assert k is None or type(k) is bytes
        assert v is None or type(v) is bytes
        assert type(h) is tuple and all(type(n) is str and (x is None or type(x) is bytes) for n, x in h)


u32 = st.integers(min_value=0, max_value=(1 << 32) - 1)
i64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
small_count = st.integers(min_value=0, max_value=40) | u32


@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=300), attributes=st.integers(min_value=0, max_value=0xFFFF),
       last_delta=st.integers(min_value=0, max_value=60) | u32, count=small_count,
       first_ts=i64, max_ts=i64, section_len=st.none() | u32 | st.integers(min_value=0, max_value=400),
       reserved=st.tuples(st.integers(0, 0xFFFF), u32) | st.just((0, 0)))
def test_garbage_body_with_valid_crc_is_refused_or_whole(body, attributes, last_delta, count, first_ts,
                                                          max_ts, section_len, reserved):
    raw = forge(body, attributes=attributes, last_delta=last_delta, count=count, first_ts=first_ts,
                max_ts=max_ts, section_len=section_len, reserved=reserved)
    try:
        recs = _codec.decode(raw)
    except CorruptBatchError:
        return
    _check_decoded(recs, count, 0)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(section=st.binary(max_size=300), flags=st.integers(min_value=0, max_value=0xFF),
       count=st.integers(min_value=0, max_value=40), extra=st.integers(min_value=-3, max_value=3))
def test_garbage_section_inside_a_valid_zstd_frame_is_refused_or_whole(section, flags, count, extra):
    body = zstandard.ZstdCompressor(write_content_size=True).compress(section)
    attributes = (flags & ~_codec.CODEC_MASK) | _codec.CODEC_ZSTD
    raw = forge(body, attributes=attributes, count=count, last_delta=max(count - 1, 0),
                section_len=max(len(section) + extra, 0))
    try:
        recs = _codec.decode(raw)
    except CorruptBatchError:
        return
    _check_decoded(recs, count, 0)


@settings(deadline=None, max_examples=200)
@given(st.binary(max_size=200), st.data())
def test_structured_section_garbage_is_refused_or_whole(garbage, data):
    """A plausible column layout (right count, right sizes) with random lengths and payload."""
    count = data.draw(st.integers(min_value=1, max_value=8))
    lens = data.draw(st.lists(st.integers(min_value=-3, max_value=30), min_size=count, max_size=count))
    flags = data.draw(st.sampled_from([_codec.NO_KEYS | _codec.UNIFORM_TS, _codec.UNIFORM_TS,
                                       _codec.UNIFORM_TS | _codec.HAS_NULLS,
                                       _codec.NO_KEYS | _codec.UNIFORM_TS | _codec.HAS_HEADERS]))
    cols = struct.pack(f"<{count}i", *lens)
    if not flags & _codec.NO_KEYS:
        cols = struct.pack(f"<{count}i", *reversed(lens)) + cols
    if flags & _codec.HAS_HEADERS:
        cols += struct.pack(f"<{count}i", *[2 + (x % 5) for x in lens])
    body = cols + garbage
    raw = forge(body, attributes=flags, count=count, last_delta=count - 1)
    try:
        recs = _codec.decode(raw)
    except CorruptBatchError:
        return
    _check_decoded(recs, count, 0)


def test_zstd_bomb_does_not_allocate_past_the_header():
    # a tiny frame that declares (and holds) 64 MiB, in a batch whose header says 100 bytes
    body = zstandard.ZstdCompressor(write_content_size=True).compress(bytes(64 << 20))
    raw = forge(body, attributes=_codec.CODEC_ZSTD | _codec.NO_KEYS | _codec.UNIFORM_TS, section_len=100)
    with pytest.raises(CorruptBatchError):
        _codec.decode(raw)


def test_two_zstd_frames_are_refused():
    sec = _codec.prepare(None, [b"abc"], 5)
    plain = _codec.encode(0, None, [b"abc"], 5)
    frame = zstandard.ZstdCompressor(write_content_size=True).compress(plain[HEADER_SIZE:])
    attrs = sec.attributes | _codec.CODEC_ZSTD
    ok = forge(frame, attributes=attrs, section_len=sec.section_len, first_ts=5, max_ts=5)
    assert _codec.decode(ok) == [(0, 5, None, b"abc", ())]
    with pytest.raises(CorruptBatchError):
        _codec.decode(forge(frame + frame, attributes=attrs, section_len=sec.section_len, first_ts=5, max_ts=5))


def test_reserved_byte_outside_the_crc_is_checked():
    raw = bytearray(_codec.encode(0, None, [b"x"], 1))
    raw[3] = 1
    with pytest.raises(CorruptBatchError):
        _codec.decode(bytes(raw))


def test_non_bytes_input_is_refused():
    for junk in (None, 5, "EL\x01", [1, 2, 3], object()):
        with pytest.raises(CorruptBatchError):
            _codec.decode(junk)


def test_encode_refuses_what_it_could_not_decode():
    import array
    with pytest.raises(ValueError):
        _codec.encode(0, None, [], 0)  # an empty batch would claim an offset
    with pytest.raises(TypeError):
        _codec.encode(0, None, [array.array("i", [1, 2])], 0)  # len() is not its size in bytes
    with pytest.raises(TypeError):
        _codec.encode(0, [memoryview(b"abcd").cast("B", (2, 2))], [b"v"], 0)
    with pytest.raises(ValueError):
        _codec.encode(0, [b"k"], [b"v", b"w"], 0)  # columns of different lengths
    with pytest.raises(ValueError):
        _codec.encode(0, None, [b"v"], 1 << 63)
    with pytest.raises(ValueError):
        _codec.encode(0, None, [b"v", b"w"], 0, timestamps=[-(1 << 62) - 5, 1 << 62])
    with pytest.raises(ValueError):
        _codec.encode(0, None, [b"v", b"w"], 0, offset_deltas=[3, 3])
    with pytest.raises(ValueError):
        _codec.encode(0, None, [b"v"], 0, headers=[(("h", b""),) * 70000])  # over 65535 headers


def test_bytearray_and_memoryview_values_round_trip():
    data = _codec.encode(7, [bytearray(b"k"), None], [memoryview(b"val"), bytearray(b"")], 3)
    assert _codec.decode(data) == [(7, 3, b"k", b"val", ()), (8, 3, None, b"", ())]


@CODEC_SETTINGS
@given(batches(), st.integers(min_value=8, max_value=31))
def test_a_damaged_length_is_refused_before_reading(case, bit):
    """The length field is outside the CRC: peek must refuse a length that disagrees with
    the section length, so a reader never asks for (or allocates) a bogus size."""
    kw, _ = case
    raw = bytearray(_encode(kw))
    length = struct.unpack_from("<I", raw, 4)[0]
    bad = length ^ (1 << bit)
    struct.pack_into("<I", raw, 4, bad)
    section_len = struct.unpack_from("<I", raw, 48)[0]
    try:
        _codec.peek(bytes(raw))
    except CorruptBatchError:
        pass
    else:  # only a compressed batch has any slack, and only a little
        assert kw["codec"] == _codec.CODEC_ZSTD
        assert bad <= HEADER_SIZE + section_len + (section_len >> 7) + 1024
    with pytest.raises(CorruptBatchError):
        _codec.decode(bytes(raw))


@pytest.mark.parametrize("uniform_ts", [True, False])
@pytest.mark.parametrize("extra", [-1, 0, 1])
@pytest.mark.parametrize("vlen", [0, 5, -1, -2])
@pytest.mark.parametrize("klen", [None, 0, 3, -1])
def test_batches_of_equal_lengths_decode_whole_or_are_refused(klen, vlen, extra, uniform_ts):
    """The decoder cuts a batch whose keys share one length and values another in one call:
    it must agree with the rule for every batch (whole and right, or CorruptBatchError),
    including negative lengths without HAS_NULLS and a section one byte off."""
    count = 3
    flags = (_codec.UNIFORM_TS if uniform_ts else 0) | (_codec.NO_KEYS if klen is None else 0)
    cols = b"" if uniform_ts else struct.pack("<3q", 0, 7, 7)
    if klen is not None:
        cols += struct.pack("<3i", *[klen] * count)
    cols += struct.pack("<3i", *[vlen] * count)
    k, v = max(klen or 0, 0), max(vlen, 0)
    payload = bytes(range(200))[:max(0, count * (k + v) + extra)]
    raw = forge(cols + payload, attributes=flags, count=count, last_delta=count - 1, first_ts=100, max_ts=107)
    valid = vlen >= 0 and (klen is None or klen >= 0) and len(payload) == count * (k + v)
    if not valid:
        with pytest.raises(CorruptBatchError):
            _codec.decode(raw)
        return
    keys = [None] * count if klen is None else [payload[i * k:(i + 1) * k] for i in range(count)]
    vals = [payload[count * k + i * v:count * k + (i + 1) * v] for i in range(count)]
    tss = [100] * count if uniform_ts else [100, 107, 107]
    assert _codec.decode(raw) == [(i, t, kk, vv, ()) for i, t, kk, vv in zip(range(count), tss, keys, vals)]

# -- the encoder's fast forms give the same bytes as the general one -------------------------------

def _whole(prep, base=7):
    return _codec.seal(prep, base) + prep.payload


@CODEC_SETTINGS
@given(runs=st.lists(st.tuples(st.integers(min_value=0, max_value=1 << 45), st.integers(min_value=0, max_value=5)),
                     min_size=1, max_size=8).filter(lambda rs: sum(n for _t, n in rs) > 0),
       codec=codecs)
def test_timestamp_runs_encode_as_the_expanded_column(runs, codec):
    # the producer passes each merged batch's timestamp once, with its record count
    n = sum(c for _t, c in runs)
    values = [b"v%d" % i for i in range(n)]
    expanded = [t for t, c in runs for _ in range(c)]
    a = _codec.prepare(None, values, 0, timestamps=expanded, codec=codec)
    b = _codec.prepare(None, values, 0, ts_runs=runs, codec=codec)
    assert _whole(a) == _whole(b)
    records = _codec.decode(_whole(b))
    assert [r[1] for r in records] == expanded


def test_timestamp_runs_must_count_every_record():
    with pytest.raises(ValueError):
        _codec.prepare(None, [b"a", b"b"], 0, ts_runs=[(5, 1)])
    with pytest.raises(ValueError):
        _codec.prepare(None, [b"a"], 0, timestamps=[1], ts_runs=[(5, 1)])


@CODEC_SETTINGS
@given(key=st.none() | small_bytes, value=st.binary(max_size=300), t=st.integers(min_value=0, max_value=1 << 62),
       codec=codecs)
def test_prepare_one_is_prepare_of_one_record(key, value, t, codec):
    # Partition.append's encoder: byte for byte the batch append_batch would write
    one = _codec.prepare_one(key, value, t, codec)
    general = _codec.prepare(None if key is None else [key], [value], t, codec=codec)
    assert _whole(one) == _whole(general)
    assert (one.max_record, one.length, one.section_len) == (general.max_record, general.length, general.section_len)


@CODEC_SETTINGS
@given(key=st.none() | small_bytes, value=st.binary(max_size=300), t=st.integers(min_value=0, max_value=1 << 62),
       base=st.integers(min_value=0, max_value=1 << 62))
def test_one_record_batch_is_prepare_one_sealed(key, value, t, base):
    # Partition.append's encoder under the lock: byte for byte the batch of prepare_one
    batch, length = _codec.one_record_batch(base, key, value, t)
    prep = _codec.prepare_one(key, value, t)
    assert type(batch) is bytes and batch == _codec.seal(prep, base) + prep.payload
    assert length == prep.length == len(batch)


@pytest.mark.parametrize("key", [None, b"k" * 10, b"K" * 70_000])
def test_one_record_batch_of_a_large_record_is_buffers_not_a_copy(key):
    value = b"v" * 70_000
    parts, length = _codec.one_record_batch(7, key, value, 5)
    prep = _codec.prepare_one(key, value, 5)
    assert type(parts) is list and parts[-1] is value and (key is None or parts[-2] is key)
    assert b"".join(parts) == _codec.seal(prep, 7) + prep.payload and length == prep.length
    assert [(r[2], r[3]) for r in _codec.decode(b"".join(parts))] == [(key, value)]


def test_prepared_parts_are_written_without_joining():
    # an uncompressed batch keeps its columns as separate buffers (one pwritev writes them)
    prep = _codec.prepare([b"k1", b"k2"], [b"v" * 100, b"w" * 50], 3)
    assert len(prep.parts) > 1
    assert prep.length == HEADER_SIZE + len(prep.payload)
    assert [(r[2], r[3]) for r in _codec.decode(_whole(prep))] == [(b"k1", b"v" * 100), (b"k2", b"w" * 50)]


def _big(n, tag=b"v"):
    # a section between _SCRATCH_MIN and _SCRATCH_MAX: built in the thread's reused buffer
    return [b"k%05d" % i for i in range(n)], [tag * 90 + b"%05d" % i for i in range(n)]


def test_large_sections_are_built_in_a_reused_buffer_byte_for_byte(monkeypatch):
    keys, values = _big(1000)
    keys[3] = None
    values[5] = None
    for codec in (_codec.CODEC_NONE, _codec.CODEC_ZSTD):
        scratch = _whole(_codec.prepare(keys, values, 3, codec=codec))
        with monkeypatch.context() as m:
            m.setattr(_codec, "_SCRATCH_MIN", 1 << 40)  # joined, as before
            joined = _whole(_codec.prepare(keys, values, 3, codec=codec))
        assert scratch == joined
    prep = _codec.prepare(keys, values, 3)
    assert _codec._SCRATCH_MIN <= prep.section_len <= _codec._SCRATCH_MAX
    assert len(prep.parts) == 1 and type(prep.parts[0]) is memoryview  # a view, no new string


def test_a_live_prepared_batch_is_never_overwritten_by_the_next():
    # the buffer is reused only once nothing points into it: a Prepared kept alive (a caller
    # preparing several batches before appending them) keeps its bytes
    k1, v1 = _big(1000, b"a")
    k2, v2 = _big(1200, b"b")
    first = _codec.prepare(k1, v1, 3)
    before = _whole(first)
    second = _codec.prepare(k2, v2, 4)
    third = _codec.prepare(k1, v2[:1000], 5)
    assert _whole(first) == before
    assert [(r[2], r[3]) for r in _codec.decode(_whole(first))] == list(zip(k1, v1))
    assert [(r[2], r[3]) for r in _codec.decode(_whole(second))] == list(zip(k2, v2))
    assert [(r[2], r[3]) for r in _codec.decode(_whole(third))] == list(zip(k1, v2[:1000]))
    del first, second, third
    again = _codec.prepare(k1, v1, 3)  # the buffer is free again: reused
    assert _whole(again) == before


@pytest.mark.parametrize("bad", ["", "text", memoryview(b"abcdef")[::2],
                                 memoryview(bytes(8)).cast("B", (2, 4))])
def test_large_sections_refuse_what_is_not_a_flat_byte_string(bad):
    # as small batches do (b"".join): a str, a strided or 2-D buffer is a TypeError
    keys, values = _big(1000)
    values[7] = bad
    with pytest.raises(TypeError):
        _codec.prepare(keys, values, 3)
    with pytest.raises(TypeError):
        _codec.prepare(keys[:2], values[6:8], 3)
    keys[9] = bad
    values[7] = b"ok"
    with pytest.raises(TypeError):
        _codec.prepare(keys, values, 3)
    # and the thread's buffer is still usable after the refusal
    k, v = _big(1000)
    assert [(r[2], r[3]) for r in _codec.decode(_whole(_codec.prepare(k, v, 3)))] == list(zip(k, v))


@CODEC_SETTINGS
@given(deltas=st.lists(st.integers(min_value=-2, max_value=_codec._RUN_DELTAS + 2), min_size=1, max_size=60),
       ordered=st.booleans(), general=st.booleans(), codec=codecs,
       t0=st.integers(min_value=0, max_value=1 << 45))
def test_timestamp_columns_of_small_deltas_decode_exactly(deltas, ordered, general, codec, t0):
    """A column of non-decreasing small deltas (a producer's batch) decodes as runs sharing one
    int per run; any other column (unsorted, negative, large, not starting at 0) must decode
    exactly as well, on the fast path (equal lengths) and the general one (headers)."""
    if ordered:
        deltas = sorted(deltas)
    stamps = [t0 + d for d in deltas]
    n = len(stamps)
    values = [b"v%03d" % i for i in range(n)]
    headers = [(("h", b"1"),)] * n if general else None
    raw = _codec.encode(5, None, values, t0, timestamps=stamps, headers=headers, codec=codec)
    got = _codec.decode(raw)
    assert [r[1] for r in got] == stamps
    assert [r[0] for r in got] == list(range(5, 5 + n))
    assert [r[3] for r in got] == values


def test_a_producer_batch_shares_one_timestamp_object_per_run():
    stamps = [1_764_194_400_000] * 300 + [1_764_194_400_001] * 200 + [1_764_194_400_003] * 100
    raw = _codec.encode(0, None, [b"x"] * 600, stamps[0], timestamps=stamps)
    got = [r[1] for r in _codec.decode(raw)]
    assert got == stamps
    assert len({id(t) for t in got}) == 3  # one int per run, not one per record


@pytest.mark.parametrize("count", [140, 255, 256, 257, 1000, 1300])
@pytest.mark.parametrize("kind", ["keys", "no keys", "bytearray", "a memoryview", "null key"])
def test_equal_length_columns_cut_by_struct_are_byte_for_byte(monkeypatch, count, kind):
    """Keys and values of one length each go into the section through Struct calls in chunks;
    the batch must be the one the general way writes, whatever the count (chunk boundaries),
    and items Struct cannot take (a memoryview) or a None key must take the general way."""
    keys = [b"k%07d" % i for i in range(count)]
    values = [bytes([i % 251]) * 120 for i in range(count)]
    if kind == "no keys":
        keys = None
    elif kind == "bytearray":
        keys[count // 2] = bytearray(keys[count // 2])
        values[-1] = bytearray(values[-1])
    elif kind == "a memoryview":
        values[count - 3] = memoryview(values[count - 3])
    elif kind == "null key":
        keys[1] = None
    for codec in (_codec.CODEC_NONE, _codec.CODEC_ZSTD):
        prep = _codec.prepare(keys, values, 3, codec=codec)
        fast = _whole(prep)
        with monkeypatch.context() as m:
            m.setattr(_codec, "_SCRATCH_MIN", 1 << 40)  # joined, the general way
            joined = _whole(_codec.prepare(keys, values, 3, codec=codec))
        assert fast == joined
        got = _codec.decode(fast)
        assert [r[3] for r in got] == [bytes(v) for v in values]
        assert [r[2] for r in got] == ([None] * count if keys is None else
                                       [None if k is None else bytes(k) for k in keys])
        # the same batch from columns laid out ahead: of the items (Struct calls when they
        # have one length), joined from pieces, or copied into blobs (never Struct calls)
        half = count // 2
        for copy in (False, True):
            kcol = None if keys is None else _codec.Column.join(
                [_codec.Column.of(keys[:half], copy=copy), _codec.Column.of(keys[half:], copy=copy)])
            vcol = _codec.Column.join(
                [_codec.Column.of(values[:half], copy=copy), _codec.Column.of(values[half:], copy=copy)])
            assert _whole(_codec.prepare(kcol, vcol, 3, codec=codec)) == joined
    assert _codec._SCRATCH_MIN <= _codec.prepare(keys, values, 3).section_len


def test_equal_lengths_of_a_str_are_refused_as_before():
    # a str of the values' length must not be packed (struct would refuse it; the general
    # way names the record)
    values = [b"x" * 100 for _ in range(300)]
    values[17] = "y" * 100
    with pytest.raises(TypeError):
        _codec.prepare(None, values, 3)
    values[17] = b"y" * 100
    assert _codec.decode(_whole(_codec.prepare(None, values, 3)))[17][3] == b"y" * 100


@CODEC_SETTINGS
@given(data=st.data(), codec=codecs)
def test_columns_laid_out_ahead_encode_the_same_batch(data, codec):
    # the producer lays out each sealed batch's keys and values (codec.Column.of, and
    # Column.join for a merged batch); prepare must write byte for byte what it writes for
    # the records themselves, with any mix of None keys and values, and headers
    sizes = data.draw(st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=4))
    n = sum(sizes)
    key_mode = data.draw(st.sampled_from(["none", "all", "mixed"]))
    keys = ([None] * n if key_mode == "none" else
            data.draw(st.lists(small_bytes if key_mode == "all" else maybe_bytes, min_size=n, max_size=n)))
    values = data.draw(st.lists(maybe_bytes, min_size=n, max_size=n))
    headers = data.draw(st.none() | st.lists(headers_one, min_size=n, max_size=n))
    general = _codec.prepare(keys, values, 7, headers=headers, codec=codec)
    kcols, vcols, i = [], [], 0
    for s in sizes:
        kcols.append(_codec.Column.of(keys[i:i + s]))
        vcols.append(_codec.Column.of(values[i:i + s]))
        i += s
    kc = kcols[0] if len(kcols) == 1 else _codec.Column.join(kcols)
    vc = vcols[0] if len(vcols) == 1 else _codec.Column.join(vcols)
    laid = _codec.prepare(kc, vc, 7, headers=headers, codec=codec)
    assert _whole(laid) == _whole(general)
    assert (laid.length, laid.section_len, laid.attributes) == \
        (general.length, general.section_len, general.attributes)
    # columns joined from bytes (Column.of's default) leave the longest item uncomputed:
    # max_record is then a bound (prepare_batch computes the exact sizes only when it is over)
    assert general.max_record <= laid.max_record <= max(general.section_len, 0)
    exact = _codec.prepare(_codec.Column.of(keys, copy=False), _codec.Column.of(values, copy=False), 7,
                           headers=headers, codec=codec)
    assert exact.max_record == general.max_record and _whole(exact) == _whole(general)
    assert _codec.first_none(kc) == _codec.first_none(keys)
    assert _codec.record_sizes(kc, vc, headers) == _codec.record_sizes(keys, values, headers)


def test_large_sections_from_columns_laid_out_ahead():
    # merged producer batches are built in the reused buffer too (and joined when zstd)
    keys, values = _big(1000)
    keys[3] = None
    values[5] = None
    for codec in (_codec.CODEC_NONE, _codec.CODEC_ZSTD):
        general = _whole(_codec.prepare(keys, values, 3, codec=codec))
        kc = _codec.Column.join([_codec.Column.of(keys[i:i + 141]) for i in range(0, 1000, 141)])
        vc = _codec.Column.join([_codec.Column.of(values[i:i + 141]) for i in range(0, 1000, 141)])
        assert _whole(_codec.prepare(kc, vc, 3, codec=codec)) == general


def test_a_laid_out_column_holds_its_lengths_packed_not_a_list_for_the_gc():
    # a producer's sealed batches wait with their columns: lengths as the section's i32
    # column (bytes, not traversed by the cyclic GC), joined without a per-record step
    import gc
    c = _codec.Column.of([b"a", b"bb", None, b""])
    assert c.packed == struct.pack("<4i", 1, 2, -1, 0) and c.lens == [1, 2, -1, 0]
    assert not gc.is_tracked(c.packed) and type(c.parts) is tuple
    same = _codec.Column.of([b"xyz"] * 5)
    assert same.packed == struct.pack("<i", 3) * 5 and same.itemsize == 3
    j = _codec.Column.join([c, same])
    assert j.packed == c.packed + same.packed and j.lens == c.lens + same.lens
    assert (j.count, j.nulls, j.size, j.itemsize) == (9, 1, 3 + 15, -1)
    assert _codec.first_none(j) == 2 and _codec.record_sizes(None, j) == [1, 2, 0, 0, 3, 3, 3, 3, 3]


def test_laid_out_columns_are_written_without_another_copy():
    # columns of joined bytes (the producer's sealed, merged batches) become buffers of the
    # pwritev as they are; too many of them (os.pwritev's IOV_MAX) or parts that are not
    # bytes take the general road; the batch is the same byte for byte either way
    keys, values = _big(1000)
    general = _whole(_codec.prepare(keys, values, 3))
    kcols = [_codec.Column.of(keys[i:i + 141]) for i in range(0, 1000, 141)]
    vcols = [_codec.Column.of(values[i:i + 141]) for i in range(0, 1000, 141)]
    prep = _codec.prepare(_codec.Column.join(kcols), _codec.Column.join(vcols), 3)
    blobs = [c.parts[0] for c in kcols + vcols]
    assert len(prep.parts) == 2 + len(blobs) and all(p is b for p, b in zip(prep.parts[2:], blobs))
    assert _whole(prep) == general
    many = _codec._DIRECT_PARTS
    kc = _codec.Column.join([_codec.Column.of([k]) for k in keys[:many]])
    vc = _codec.Column.join([_codec.Column.of([v]) for v in values[:many]])
    prep = _codec.prepare(kc, vc, 3)
    assert len(prep.parts) < 2 * many and _whole(prep) == _whole(_codec.prepare(keys[:many], values[:many], 3))
    odd = _codec.Column.of(values[:10])
    odd.parts = (bytearray(odd.parts[0]),)
    assert _whole(_codec.prepare(None, odd, 3)) == _whole(_codec.prepare(None, values[:10], 3))
