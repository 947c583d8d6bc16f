"""The record batch codec: bytes <-> records, pure functions, no I/O.

A batch is the unit of writing, atomicity and checking. Layout (all integers little-endian,
documented byte by byte in docs/format.md):

    0  2s  magic b"EL"
    2  B   version (1)
    3  B   reserved (0)
    4  I   length: the whole batch in bytes, header included
    8  I   crc: zlib.crc32 of bytes [12, length): everything after it, base offset included
    12 H   attributes (codec in bits 0-1, flags below)
    14 H   producer epoch (transactional batches; 0 otherwise)
    16 Q   base offset
    24 I   last offset delta (offset of the last record - base offset)
    28 I   record count
    32 q   first timestamp (ms)
    40 q   max timestamp (ms)
    48 I   section length: bytes of the record section once decompressed
    52 I   producer id (transactional batches; 0 otherwise)
    56     record section (zstd-compressed when the codec says so)

The record section is column-wise so encoding and decoding are a few C-level bulk
operations per batch rather than Python work per field:

    [OFFSET_DELTAS]  count x u32 offset deltas (only in batches rewritten by compaction; the
                     header's last offset delta may exceed the last one, and count may be 0;
                     a batch of count 0 may carry zero padding after it: a gap written over
                     damaged bytes, see `gap_batch`)
    [not UNIFORM_TS] count x i64 timestamp deltas from the first timestamp
    [not NO_KEYS]    count x i32 key lengths (-1: None)
                     count x i32 value lengths (-1: None)
    [HAS_HEADERS]    count x i32 lengths of each record's encoded headers
                     keys, then values, then encoded headers, back to back

Invariants: `decode` either returns every record of a batch or raises `CorruptBatchError`
(never another exception, never part of a batch); it never allocates more than the section
length the (CRC-checked) header announces, and that is bounded by MAX_SECTION_BYTES.
"""
import io
import struct
import sys
import threading
import zlib
from array import array
from bisect import bisect_right
from itertools import chain, repeat
from operator import add, mul

import zstandard

from eventlog.errors import CorruptBatchError

MAGIC = b"EL"
VERSION = 1
HEADER = struct.Struct("<2sBBIIHHQIIqqII")
HEADER_SIZE = HEADER.size  # 56
# the header in two parts, for writing it: the CRC covers the tail (bytes 12..56) and the section
_HEAD_FRONT = struct.Struct("<2sBBII")
_HEAD_TAIL = struct.Struct("<HHQIIqqII")
assert _HEAD_FRONT.size + _HEAD_TAIL.size == HEADER_SIZE
# The fields a reader needs to walk a file: magic, version, length, crc, attributes, base, ...
_PEEK = struct.Struct("<2sBxII")  # magic, version, length, crc

CODEC_NONE = 0
CODEC_ZSTD = 1
CODEC_MASK = 0x3
NO_KEYS = 1 << 2
UNIFORM_TS = 1 << 3
HAS_HEADERS = 1 << 4
OFFSET_DELTAS = 1 << 5
HAS_NULLS = 1 << 6
COMPACTED = 1 << 7  # written by the cleaner: base offsets may skip ahead (gaps)
# Transactions (KIP-98's model, docs/transactions.md): a batch written inside a transaction
# carries TRANSACTIONAL and its producer's id and epoch in the header; a transaction marker
# (control batch) is a record-less batch taking one offset, with CONTROL, TRANSACTIONAL and,
# for a commit, COMMIT (without COMMIT it is an abort marker).
TRANSACTIONAL = 1 << 8
CONTROL = 1 << 9
COMMIT = 1 << 10
_KNOWN_ATTRS = (CODEC_MASK | NO_KEYS | UNIFORM_TS | HAS_HEADERS | OFFSET_DELTAS | HAS_NULLS | COMPACTED
                | TRANSACTIONAL | CONTROL | COMMIT)
_CONTROL_ATTRS = CONTROL | TRANSACTIONAL | OFFSET_DELTAS | NO_KEYS | UNIFORM_TS
MAX_PRODUCER_ID = 0xFFFFFFFF
MAX_PRODUCER_EPOCH = 0xFFFF

MAX_SECTION_BYTES = 1 << 30
MAX_RECORDS = 1 << 24
_BIG = sys.byteorder == "big"
_U16 = struct.Struct("<H")
_I32 = struct.Struct("<i")
_I32x2 = struct.Struct("<ii")
_I32_LIMIT = (1 << 31) - 1
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1


class Column:
    """A column of keys or of values, summarised for `prepare`: `count` items, `nulls` of
    them None, `packed` (each item's length, -1 for None, as the section's i32 length column:
    `lens` unpacks it), `itemsize` (the one length every item has, or -1: None items or
    several lengths), `longest` (the largest length, or None: not computed, `size` bounds
    it), and the present items' bytes, `size` in all, in `parts` (buffers or, if `itemwise`,
    the items themselves, back to back in order).

    `prepare` makes one from a sequence of items; a caller may make one ahead (`of`, `join`)
    and pass it instead of the sequence. The producer does when it seals a batch, while the
    records are still in the CPU's caches: its sender then never touches the record objects
    (by then long out of the caches), and the sealed batches waiting for it hold no lists of
    them for the cyclic GC to traverse. The lengths are kept packed (bytes, not a list of
    ints) for the same reason: a sealed batch's columns are a few flat objects that the GC
    does not traverse (or, the parts tuple, soon stops tracking), `join` concatenates them
    without a per-record step, and `prepare` writes them as they are. The batch encoded is
    the same (with `longest` None, the Prepared's `max_record` is a bound: see `prepare`)."""

    __slots__ = ("count", "nulls", "packed", "itemsize", "longest", "size", "parts", "itemwise")

    def __init__(self, count, nulls, packed, itemsize, longest, size, parts, itemwise):
        self.count = count
        self.nulls = nulls
        self.packed = packed
        self.itemsize = itemsize
        self.longest = longest
        self.size = size
        self.parts = parts
        self.itemwise = itemwise

    @property
    def lens(self):
        """Each item's length (-1 for None), as a list."""
        return _i32_array(self.packed).tolist()

    @classmethod
    def of(cls, items, copy=True):
        """The column of a sequence of bytes-like objects or None; TypeError for an item
        without len(). With `copy`, the present items are joined into one bytes object (the
        column holds no reference to them) and `longest` is left uncomputed; else `parts` is
        the items themselves."""
        n = len(items)
        try:
            lens = list(map(len, items))  # one C-level pass unless there are Nones
            nulls = 0
        except TypeError:  # Nones (or something that is not bytes: raised again, or when written)
            if items.__class__ in (list, tuple) and items[0] is None and items.count(None) == n:
                lens = [-1] * n  # no keys at all (the producer's unkeyed records)
            else:
                lens = [-1 if x is None else len(x) for x in items]
            nulls = lens.count(-1)
        present = [x for x in items if x is not None] if nulls else items
        uniform = n and lens.count(lens[0]) == n  # also all None: one pack, repeated
        itemsize = lens[0] if uniform and not nulls else -1
        packed = _pack_i32(lens, uniform) if n else b""
        if copy:
            blob = b"".join(present)
            return cls(n, nulls, packed, itemsize, itemsize if itemsize >= 0 else None, len(blob),
                       (blob,) if blob else (), False)
        if itemsize >= 0:  # one length for all: no max, no sum
            return cls(n, 0, packed, itemsize, itemsize, itemsize * n, present, True)
        return cls(n, nulls, packed, -1, max(lens) if n else -1, sum(lens) + nulls, present, True)

    @classmethod
    def join(cls, columns):
        """One column of the items of `columns`, in order (the items' bytes are not copied)."""
        parts = []
        longest = -1
        for c in columns:
            parts += c.parts
            if longest is not None:
                longest = None if c.longest is None else max(longest, c.longest)
        sizes = {c.itemsize for c in columns}  # one length for all iff every column has the same
        itemsize = sizes.pop() if len(sizes) == 1 else -1
        return cls(sum(c.count for c in columns), sum(c.nulls for c in columns),
                   b"".join([c.packed for c in columns]), itemsize, longest,
                   sum(c.size for c in columns), parts, all(c.itemwise for c in columns))

    def __len__(self):
        return self.count


def first_none(col):
    """The index of the first None in a column (a sequence, a `Column`, or None: no items
    at all, so 0), or -1."""
    if col is None:
        return 0
    if col.__class__ is Column:
        return col.lens.index(-1) if col.nulls else -1
    return col.index(None) if None in col else -1


def _checked_size(what, n):
    """`n`, the bytes of a column's items, if within the limit of a section."""
    if n > MAX_SECTION_BYTES:
        raise ValueError(f"the {what}s of a batch are {n} bytes, over the limit of "
                         f"{MAX_SECTION_BYTES}: split the batch")
    return n


# A record section is built in a reused buffer, not a new string per batch: glibc gives freed
# blocks of more than ~128 KiB back to the OS (its mmap threshold and heap trimming), so a new
# string of that size per batch is page-faulted in again every time, with the GIL held.
# Measured (2 cores, Python 3.11): b"".join of 1,400 100-byte values (136 KiB) costs 41
# ns/record, writing them into a reused io.BytesIO 9; in the producer's sender thread the
# joins were 120 of its ~300 ns of CPU per record. The buffer is per thread and reused only
# while no Prepared still points into it: io.BytesIO refuses writes while a view of its
# buffer exists (BufferError), and then a new one is made, so a live Prepared is never
# overwritten. Sections over _SCRATCH_MAX are joined as before, so a thread keeps at most
# that much (the producer's merged batches are at most 256 KiB of records, producer._MAX_WRITE);
# small ones too (below _SCRATCH_MIN, joining is as cheap and keeps no view).
_SCRATCH_MIN = 16 << 10
_SCRATCH_MAX = 512 << 10
# a section of laid-out columns (`Column`s of joined bytes) is written without a copy when
# their parts are at most this many buffers (os.pwritev takes at most IOV_MAX, 1024 on Linux)
_DIRECT_PARTS = 128
_scratch_local = threading.local()


def _scratch():
    """This thread's section buffer, at position 0, writable (no Prepared points into it)."""
    bio = getattr(_scratch_local, "bio", None)
    if bio is not None:
        bio.seek(0)
        try:
            bio.write(b"")  # raises BufferError while a view of the buffer exists
            return bio
        except BufferError:
            pass
    bio = _scratch_local.bio = io.BytesIO()
    return bio


def _write_column(bio, col, what, expect):
    """Write a column's items back to back into `bio`; TypeError unless they are `expect`
    bytes in all (an item that is not a flat byte string)."""
    start = bio.tell()
    try:
        bio.writelines(col)
    except BufferError:  # a non-contiguous buffer (b"".join raises TypeError for it)
        _not_flat(what, col)
    if bio.tell() - start != expect:
        _not_flat(what, col)


def _join_column(col, what, expect):
    blob = b"".join(col)
    # len() of a buffer that is not a flat byte string (array('i'), a 2-D memoryview) is not
    # its size in bytes: such a batch would be written but could never be decoded
    if len(blob) != expect:
        _not_flat(what, col)
    return blob


def _pack_i32(lens, uniform=False):
    """The i32 column of `lens`; `uniform`: they are all lens[0] (one pack, repeated)."""
    if uniform:
        return _I32.pack(lens[0]) * len(lens)
    return struct.pack(f"<{len(lens)}i", *lens)


# Structs of runs of "Ns" fields cut equal-length items out of a record section (decoding)
# or write them into one (encoding) in one C-level call. One cache holds them all, keyed by
# their runs, and bounded by the fields it holds (a Struct keeps ~64 bytes per field): when
# it is full it starts over.
_fields_cache = {}
_fields_held = 0
_FIELDS_MAX = 1 << 17


def _fields(*runs):
    """The Struct of `count` fields of `size` bytes ("<" + "{size}s" * count) for each
    (count, size) of `runs`, in order."""
    global _fields_held
    s = _fields_cache.get(runs)
    if s is None:
        n = sum(count for count, _size in runs)
        if _fields_held + n > _FIELDS_MAX:
            _fields_cache.clear()
            _fields_held = 0
        s = _fields_cache[runs] = struct.Struct("<" + "".join(f"{size}s" * count for count, size in runs))
        _fields_held += n
    return s


# Columns whose items all have one length (the common case: fixed-size keys and values) are
# written into the section by Struct calls of _EQUAL_CHUNK fields each: ~10 ns a record for
# keys and values together, against ~30 for BytesIO.writelines (which takes a buffer of each
# item) and ~80 for b"".join of a new string.
_EQUAL_CHUNK = 256


def _pack_equal(view, pos, col, size):
    """Write the items of `col` (bytes or bytearray of `size` bytes each: checked by the
    caller, as struct pads or cuts others) back to back at view[pos:]; the end position.
    struct.error for an item that is neither bytes nor bytearray (the caller goes the
    general way then)."""
    count = len(col)
    i = 0
    if count >= _EQUAL_CHUNK:
        full = _fields((_EQUAL_CHUNK, size))
        step = full.size
        while count - i >= _EQUAL_CHUNK:
            full.pack_into(view, pos, *col[i:i + _EQUAL_CHUNK])
            pos += step
            i += _EQUAL_CHUNK
    if i < count:
        rest = _fields((count - i, size))
        rest.pack_into(view, pos, *(col[i:] if i else col))
        pos += rest.size
    return pos


def _not_flat(what, col):
    """Raise TypeError naming the first item of `col` that is not a flat byte string."""
    for i, x in enumerate(col):
        if x is not None and (not isinstance(x, (bytes, bytearray, memoryview)) or
                              len(x) != memoryview(x).nbytes):
            raise TypeError(f"record {i}: {what} must be bytes or None, got {type(x).__name__} "
                            f"(a buffer whose len() is not its size in bytes)")
    raise TypeError(f"{what}s are not flat byte strings")

# zstandard's (de)compressor objects must not be used by two threads at once (they release
# the GIL while working), so every thread gets its own
_zstd_local = threading.local()


def _compressor(level):
    try:
        cs = _zstd_local.c
    except AttributeError:
        cs = _zstd_local.c = {}
    c = cs.get(level)
    if c is None:
        c = cs[level] = zstandard.ZstdCompressor(level=level, write_content_size=True)
    return c


def _decompressor():
    try:
        return _zstd_local.d
    except AttributeError:
        d = _zstd_local.d = zstandard.ZstdDecompressor()
        return d


class BatchInfo:
    """The header fields of a batch, as read without decoding its records."""

    __slots__ = ("length", "attributes", "base_offset", "last_offset_delta", "count",
                 "first_timestamp", "max_timestamp", "section_len", "producer_id", "producer_epoch")

    def __init__(self, length, attributes, base_offset, last_offset_delta, count,
                 first_timestamp, max_timestamp, section_len, producer_id=0, producer_epoch=0):
        self.length = length
        self.attributes = attributes
        self.base_offset = base_offset
        self.last_offset_delta = last_offset_delta
        self.count = count
        self.first_timestamp = first_timestamp
        self.max_timestamp = max_timestamp
        self.section_len = section_len
        self.producer_id = producer_id
        self.producer_epoch = producer_epoch

    @property
    def last_offset(self):
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self):
        return self.base_offset + self.last_offset_delta + 1

    def __repr__(self):
        return (f"BatchInfo(base_offset={self.base_offset}, count={self.count}, length={self.length}, "
                f"attributes={self.attributes:#x}, first_ts={self.first_timestamp}, max_ts={self.max_timestamp})")


def _i32_array(data):
    a = array("i")
    a.frombytes(data)
    if _BIG:
        a.byteswap()
    return a


def _typed(a, _code):
    if _BIG:
        a.byteswap()
    return a.tobytes()


def _encode_headers(headers):
    """Encode one record's headers: u16 count, then (u16 name len, name, i32 value len, value)."""
    if len(headers) > 0xFFFF:
        raise ValueError(f"a record can have at most 65535 headers, got {len(headers)}")
    parts = [_U16.pack(len(headers))]
    for h in headers:
        try:
            name, value = h
        except (TypeError, ValueError):
            raise TypeError(f"a header must be a (str, bytes) pair, got {h!r}") from None
        if not isinstance(name, str):
            raise TypeError(f"header name must be str, got {type(name).__name__}: {name!r}")
        nb = name.encode("utf-8")
        if len(nb) > 0xFFFF:
            raise ValueError(f"header name {name[:40]!r}... is longer than 65535 bytes")
        if value is None:
            parts.append(_U16.pack(len(nb)) + nb + b"\xff\xff\xff\xff")
        else:
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise TypeError(f"header {name!r} value must be bytes or None, got {type(value).__name__}")
            value = bytes(value)
            parts.append(_U16.pack(len(nb)) + nb + _I32.pack(len(value)) + value)
    return b"".join(parts)


def _decode_headers(data):
    n, = _U16.unpack_from(data, 0)
    pos = 2
    out = []
    for _ in range(n):
        nl, = _U16.unpack_from(data, pos)
        pos += 2
        name = data[pos:pos + nl].decode("utf-8")
        if len(name.encode("utf-8")) != nl:
            raise ValueError("short header name")
        pos += nl
        vl, = _I32.unpack_from(data, pos)
        pos += 4
        if vl == -1:
            value = None
        elif vl < 0 or pos + vl > len(data):
            raise ValueError("bad header value length")
        else:
            value = bytes(data[pos:pos + vl])
            pos += vl
        out.append((name, value))
    if pos != len(data):
        raise ValueError("trailing bytes in headers")
    return tuple(out)


class Prepared:
    """A batch encoded except for its base offset (which is assigned under the append lock).

    Its record section (compressed, if the codec says so) is `parts`, a sequence of buffers
    written back to back (one `pwritev`, no copy into one string); `payload` joins them."""

    __slots__ = ("attributes", "count", "last_delta", "first_ts", "max_ts", "section_len", "parts", "size",
                 "max_record", "producer_id", "producer_epoch")

    def __init__(self, attributes, count, last_delta, first_ts, max_ts, section_len, payload, max_record,
                 producer_id=0, producer_epoch=0, size=None):
        self.attributes = attributes
        self.count = count
        self.last_delta = last_delta
        self.first_ts = first_ts
        self.max_ts = max_ts
        self.section_len = section_len
        # payload: bytes, or a list of buffers (the parts of the record section, in order)
        # whose total length is `size` (computed if not given)
        if payload.__class__ is list:
            self.parts = payload
            self.size = sum(map(len, payload)) if size is None else size
        else:
            self.parts = [payload] if payload else []
            self.size = len(payload)
        self.max_record = max_record
        self.producer_id = producer_id
        self.producer_epoch = producer_epoch

    @property
    def length(self):
        return HEADER_SIZE + self.size

    @property
    def payload(self):
        """The record section as one bytes object."""
        parts = self.parts
        return parts[0] if len(parts) == 1 and type(parts[0]) is bytes else b"".join(parts)

    def mark_transactional(self, producer_id, producer_epoch):
        """Make this a batch of a transaction of producer `producer_id` at `producer_epoch`."""
        _check_producer(producer_id, producer_epoch)
        self.attributes |= TRANSACTIONAL
        self.producer_id = producer_id
        self.producer_epoch = producer_epoch


def _check_producer(producer_id, producer_epoch):
    if type(producer_id) is not int or not 0 < producer_id <= MAX_PRODUCER_ID:
        raise ValueError(f"producer_id must be an int in [1, 2**32), got {producer_id!r}")
    if type(producer_epoch) is not int or not 0 <= producer_epoch <= MAX_PRODUCER_EPOCH:
        raise ValueError(f"producer_epoch must be an int in [0, 2**16), got {producer_epoch!r}")


def prepare(keys, values, timestamp_ms, *, timestamps=None, headers=None,
            codec=CODEC_NONE, zstd_level=3, offset_deltas=None, compacted=False, ts_runs=None):
    """Encode the record section of one batch (everything but the base offset).

    `keys` (or None: no keys at all) and `values` are equal-length sequences of bytes-like
    objects or None; anything else raises TypeError (callers turn it into a clear error).
    `timestamp_ms` is every record's timestamp unless `timestamps` is given, or `ts_runs`:
    the same column run-length encoded, a sequence of `(timestamp, count)` pairs (the
    producer's merged batches: each of its batches has one timestamp), encoded exactly as
    the expanded `timestamps` would be. `headers` is None or a sequence of per-record header
    tuples. `offset_deltas` (compaction only) gives each record's offset - base offset.
    `max_record` of the result is the largest key + value + headers size of one record, for
    the caller's size limit (only a bound, the bytes of all keys + values, if a `Column`
    given for keys or values has not computed its `longest`).
    """
    count = len(values)
    if not count:
        raise ValueError("a batch needs at least one record")
    if count > MAX_RECORDS:
        raise ValueError(f"a batch of {count} records is over the limit of {MAX_RECORDS}: split it")
    for name, col in (("keys", keys), ("headers", headers), ("timestamps", timestamps),
                      ("offset_deltas", offset_deltas)):
        if col is not None and len(col) != count:
            raise ValueError(f"{name} has {len(col)} entries for {count} values")
    if ts_runs is not None:
        if timestamps is not None:
            raise ValueError("give timestamps or ts_runs, not both")
        ts_runs = [(t, n) for t, n in ts_runs if n]
        if sum(n for _t, n in ts_runs) != count or any(n < 0 for _t, n in ts_runs):
            raise ValueError(f"ts_runs count {sum(n for _t, n in ts_runs)} records for {count} values")
    attrs = codec
    cols = []
    if offset_deltas is not None:
        attrs |= OFFSET_DELTAS
        offset_deltas = list(offset_deltas)
        if offset_deltas[0] < 0 or offset_deltas[-1] > 0xFFFFFFFF or \
                any(a >= b for a, b in zip(offset_deltas, offset_deltas[1:])):
            raise ValueError("offset_deltas must be strictly increasing integers in [0, 2**32)")
        last_delta = offset_deltas[-1]
        cols.append(_typed(array("I", offset_deltas), "I"))
    else:
        last_delta = count - 1
    if compacted:
        attrs |= COMPACTED
    if ts_runs is not None:
        run_ts = [t for t, _n in ts_runs]
        first_ts = run_ts[0]
        max_ts = max(run_ts)
        min_ts = min(run_ts)
    elif timestamps is None:
        attrs |= UNIFORM_TS
        first_ts = max_ts = min_ts = timestamp_ms
    else:
        timestamps = list(timestamps)
        first_ts = timestamps[0]
        max_ts = max(timestamps)
        min_ts = min(timestamps)
    if not (_I64_MIN <= min_ts and max_ts <= _I64_MAX and max_ts - first_ts <= _I64_MAX
            and min_ts - first_ts >= _I64_MIN):
        raise ValueError(f"timestamps must be 64-bit signed integers (ms), got {min_ts}..{max_ts}")
    if ts_runs is not None:
        if min_ts == max_ts:
            attrs |= UNIFORM_TS
        else:  # each run's delta repeated at C level: no per-record Python work
            cols.append(b"".join([_typed(array("q", (t - first_ts,)), "q") * n for t, n in ts_runs]))
    elif timestamps is not None:
        if timestamps.count(first_ts) == count:
            attrs |= UNIFORM_TS
        else:
            cols.append(_typed(array("q", map((-first_ts).__add__, timestamps)), "q"))
    kc = None
    if keys is None:
        attrs |= NO_KEYS
    else:
        kc = keys if keys.__class__ is Column else Column.of(keys, copy=False)
        if kc.nulls == count:
            attrs |= NO_KEYS
            kc = None
        else:
            cols.append(kc.packed)
    vc = values if values.__class__ is Column else Column.of(values, copy=False)
    nulls = vc.nulls or (kc is not None and kc.nulls)
    cols.append(vc.packed)
    if vc.longest is None or (kc is not None and kc.longest is None):
        max_record = vc.size + (kc.size if kc is not None else 0)  # a bound, exact for one record
    else:
        max_record = vc.longest + (kc.longest if kc is not None else 0)
    # the byte columns, after the length columns: (items, what, bytes)
    blobs = []
    if kc is not None:
        blobs.append((kc.parts, "key", _checked_size("key", kc.size)))
    blobs.append((vc.parts, "value", _checked_size("value", vc.size)))
    # Struct calls can cut the byte columns when their parts are the items themselves (not
    # joined blobs), each of its column's one length
    packable = (vc.itemsize >= 0 and vc.itemwise and (kc is None or (kc.itemsize >= 0 and kc.itemwise))
                and len(blobs) == 1 + (kc is not None))
    if headers is not None and any(headers):
        attrs |= HAS_HEADERS
        encoded = [_encode_headers(h) if h else b"\x00\x00" for h in headers]
        hl = list(map(len, encoded))
        max_record += max(hl)
        cols.append(_pack_i32(hl))
        blobs.append((encoded, "header", sum(hl)))
    if nulls:
        attrs |= HAS_NULLS
    section_len = sum(map(len, cols)) + sum(n for _c, _w, n in blobs)
    if section_len > MAX_SECTION_BYTES:
        raise ValueError(f"a batch of {count} records and {section_len} bytes is over the limit of "
                         f"{MAX_RECORDS} records and {MAX_SECTION_BYTES} bytes: split it")
    # columns laid out ahead (`Column.of` with copy: a few joined bytes objects) are written
    # as they are, one buffer each of the pwritev: copying them again into one buffer is a
    # pass over every record's bytes for nothing (the producer's merged batches)
    direct = (len(blobs) == 1 + (kc is not None) and not vc.itemwise and (kc is None or not kc.itemwise)
              and len(vc.parts) + (len(kc.parts) if kc is not None else 0) <= _DIRECT_PARTS)
    if direct:
        for col, _w, n in blobs:
            if not all(p.__class__ is bytes for p in col) or sum(map(len, col)) != n:
                direct = False  # not flat byte strings: checked on the general road below
                break
    if direct:
        for col, _w, _n in blobs:
            cols += col
    elif _SCRATCH_MIN <= section_len <= _SCRATCH_MAX:
        bio = _scratch()
        bio.writelines(cols)
        view = None
        if packable:
            start = bio.tell()
            bio.seek(section_len - 1)
            bio.write(b"\0")  # the buffer's full size, so the view below can be written
            view = bio.getbuffer()
            try:
                pos = start
                if kc is not None:
                    pos = _pack_equal(view, pos, kc.parts, kc.itemsize)
                _pack_equal(view, pos, vc.parts, vc.itemsize)
            except (struct.error, TypeError):  # an item that is not bytes or bytearray
                view.release()
                view = None
                bio.seek(start)
        if view is None:
            for col, what, n in blobs:
                _write_column(bio, col, what, n)
            view = bio.getbuffer()
        cols = [view[:section_len]]
    else:
        for col, what, n in blobs:
            blob = _join_column(col, what, n)
            if blob:
                cols.append(blob)
    if codec == CODEC_ZSTD:
        cols = _compressor(zstd_level).compress(b"".join(cols) if len(cols) > 1 else cols[0])
        return Prepared(attrs, count, last_delta, first_ts, max_ts, section_len, cols, max_record)
    # uncompressed, the columns stay separate buffers (or one view of the scratch buffer):
    # written with one pwritev, not copied into one string first
    return Prepared(attrs, count, last_delta, first_ts, max_ts, section_len, cols, max_record,
                    0, 0, section_len)


def prepare_one(key, value, timestamp_ms, codec=CODEC_NONE, zstd_level=3):
    """`prepare` for a batch of one record whose key (bytes or None) and value (bytes) the
    caller has checked: the same batch, without the column machinery (`Partition.append`).
    The caller also checks the size limit (`max_record` is key + value)."""
    if key is None:
        attrs = NO_KEYS | UNIFORM_TS
        parts = [_I32.pack(len(value)), value]
        max_record = len(value)
    else:
        attrs = UNIFORM_TS
        parts = [_I32x2.pack(len(key), len(value)), key, value]
        max_record = len(key) + len(value)
    section_len = len(parts[0]) + max_record
    if not 0 <= timestamp_ms <= _I64_MAX or max_record > MAX_SECTION_BYTES - 8:
        return prepare(None if key is None else (key,), (value,), timestamp_ms, codec=codec,
                       zstd_level=zstd_level)  # raises the usual error
    if codec == CODEC_ZSTD:
        return Prepared(attrs | CODEC_ZSTD, 1, 0, timestamp_ms, timestamp_ms, section_len,
                        _compressor(zstd_level).compress(b"".join(parts)), max_record)
    return Prepared(attrs, 1, 0, timestamp_ms, timestamp_ms, section_len, parts, max_record, 0, 0, section_len)


MAX_ONE_RECORD = MAX_SECTION_BYTES - 8  # key + value bytes `prepare_one` takes
_ONE_HEAD = HEADER_SIZE + _I32.size     # a batch of one record without a key: header, length
_ONE_HEAD_KEYED = HEADER_SIZE + _I32x2.size
# the header after the CRC, then the section's lengths, of a batch of one record
_ONE_TAIL = struct.Struct(_HEAD_TAIL.format + "i")
_ONE_TAIL_KEYED = struct.Struct(_HEAD_TAIL.format + "ii")
_ONE_JOIN = 1 << 16  # up to this many bytes of key + value, the batch is one joined bytes object


def one_record_batch(base_offset, key, value, timestamp_ms):
    """(batch, length): the batch `prepare_one(key, value, timestamp_ms)` sealed at
    `base_offset`, made without the Prepared (`Partition.append` encodes its one record
    under the append lock, once the offset is known). The batch is one bytes object (one
    `pwrite`, one CRC pass), or for a record of more than 64 KiB a list of buffers, header
    first, so that its key and value are not copied. No compression; the caller has checked
    key (bytes or None), value (bytes), the timestamp and that key + value is at most
    MAX_ONE_RECORD bytes."""
    n = len(value)
    if key is None:
        tail = _ONE_TAIL.pack(NO_KEYS | UNIFORM_TS, 0, base_offset, 0, 1, timestamp_ms, timestamp_ms,
                              4 + n, 0, n)
        length = _ONE_HEAD + n
        if n <= _ONE_JOIN:
            body = tail + value
            return _HEAD_FRONT.pack(MAGIC, VERSION, 0, length, zlib.crc32(body)) + body, length
        crc = zlib.crc32(value, zlib.crc32(tail))
        return [_HEAD_FRONT.pack(MAGIC, VERSION, 0, length, crc) + tail, value], length
    k = len(key)
    tail = _ONE_TAIL_KEYED.pack(UNIFORM_TS, 0, base_offset, 0, 1, timestamp_ms, timestamp_ms,
                                8 + k + n, 0, k, n)
    length = _ONE_HEAD_KEYED + k + n
    if k + n <= _ONE_JOIN:
        body = tail + key + value
        return _HEAD_FRONT.pack(MAGIC, VERSION, 0, length, zlib.crc32(body)) + body, length
    crc = zlib.crc32(value, zlib.crc32(key, zlib.crc32(tail)))
    return [_HEAD_FRONT.pack(MAGIC, VERSION, 0, length, crc) + tail, key, value], length


def prepare_empty(last_delta, timestamp_ms):
    """A batch of no records covering offsets [base, base + last_delta] (compaction: every
    record of that range was removed; the batch keeps the offset sequence contiguous)."""
    if not 0 <= last_delta <= 0xFFFFFFFF:
        raise ValueError(f"last_delta must be in [0, 2**32), got {last_delta}")
    return Prepared(OFFSET_DELTAS | NO_KEYS | UNIFORM_TS, 0, last_delta, timestamp_ms, timestamp_ms,
                    0, b"", 0)


def prepare_control(commit, producer_id, producer_epoch, timestamp_ms):
    """A transaction marker: a batch of no records taking one offset, ending the transaction
    of `producer_id` at `producer_epoch` in one partition (a commit marker if `commit`)."""
    _check_producer(producer_id, producer_epoch)
    return Prepared(_CONTROL_ATTRS | (COMMIT if commit else 0), 0, 0, timestamp_ms, timestamp_ms, 0, b"", 0,
                    producer_id, producer_epoch)


def gap_batch(base_offset, last_delta, timestamp_ms, length):
    """The bytes of a batch of no records covering offsets [base, base + last_delta] that is
    exactly `length` bytes long (>= HEADER_SIZE): written over damaged bytes of a segment
    (`segment.fill_gap`), so the offsets they held become an explicit, accounted gap and the
    valid batches after them stay in place. Its record section is `length - HEADER_SIZE`
    zero bytes of padding (allowed only in a batch of count 0 with OFFSET_DELTAS)."""
    if length < HEADER_SIZE:
        raise ValueError(f"a gap batch needs at least {HEADER_SIZE} bytes, got {length}")
    if not 0 <= last_delta <= 0xFFFFFFFF:
        raise ValueError(f"last_delta must be in [0, 2**32), got {last_delta}")
    pad = length - HEADER_SIZE
    prep = Prepared(OFFSET_DELTAS | NO_KEYS | UNIFORM_TS, 0, last_delta, timestamp_ms, timestamp_ms,
                    pad, bytes(pad), 0)
    return seal(prep, base_offset) + prep.payload


def record_sizes(keys, values, headers=None):
    """Each record's key + value + encoded headers size in bytes (as bounded by
    `Prepared.max_record`); for error messages, so a per-record loop is fine."""
    def lens(col):
        if col is None:
            return repeat(0)
        if col.__class__ is Column:
            return [n if n > 0 else 0 for n in col.lens]
        return [len(x) if x is not None else 0 for x in col]
    sizes = list(map(add, lens(keys), lens(values)))
    if headers is not None and any(headers):
        sizes = [n + (len(_encode_headers(h)) if h else 2) for n, h in zip(sizes, headers)]
    return sizes


def seal(prep, base_offset):
    """The header of a prepared batch at `base_offset`; the batch is header + prep.payload
    (the concatenation of `prep.parts`)."""
    tail = _HEAD_TAIL.pack(prep.attributes, prep.producer_epoch, base_offset, prep.last_delta, prep.count,
                           prep.first_ts, prep.max_ts, prep.section_len, prep.producer_id)
    crc = zlib.crc32(tail)
    for part in prep.parts:
        crc = zlib.crc32(part, crc)
    return _HEAD_FRONT.pack(MAGIC, VERSION, 0, HEADER_SIZE + prep.size, crc) + tail


def encode(base_offset, keys, values, timestamp_ms, **kw):
    """Encode one whole batch (see `prepare` for the arguments) and return its bytes."""
    prep = prepare(keys, values, timestamp_ms, **kw)
    return seal(prep, base_offset) + prep.payload


def peek(buf, pos=0):
    """Parse and sanity-check the header at `buf[pos:]` without checking the CRC.

    Returns a BatchInfo, or None if fewer than HEADER_SIZE bytes are there. Raises
    CorruptBatchError if the header cannot be a batch header.
    """
    if len(buf) - pos < HEADER_SIZE:
        return None
    (magic, version, _r, length, _crc, attrs, epoch, base, last_delta, count, first_ts, max_ts,
     section_len, pid) = HEADER.unpack_from(buf, pos)
    if magic != MAGIC or version != VERSION or _r:  # byte 3 is outside the CRC: must be 0
        raise CorruptBatchError(f"bad magic/version {magic!r}/{version}/{_r} at position {pos}")
    # the length is outside the CRC: it must agree with the section length (exactly when
    # uncompressed, within zstd's worst-case expansion otherwise) so that a damaged length can
    # never make a reader allocate or wait for gigabytes
    codec = attrs & CODEC_MASK
    # count 0 only in a batch rewritten by compaction (OFFSET_DELTAS): it covers an offset
    # range whose records were all removed, so the offset sequence stays contiguous
    if attrs & ~_KNOWN_ATTRS or not (0 < count or attrs & OFFSET_DELTAS) or count > MAX_RECORDS or \
            section_len > MAX_SECTION_BYTES or \
            codec > CODEC_ZSTD or length < HEADER_SIZE or \
            (length != HEADER_SIZE + section_len if codec == CODEC_NONE
             else length > HEADER_SIZE + section_len + (section_len >> 7) + 1024):
        raise CorruptBatchError(f"implausible batch header at position {pos}")
    if attrs & (CONTROL | COMMIT) and (attrs & ~COMMIT != _CONTROL_ATTRS or count or last_delta or not pid):
        raise CorruptBatchError(f"implausible transaction marker at position {pos}")
    return BatchInfo(length, attrs, base, last_delta, count, first_ts, max_ts, section_len, pid, epoch)


def continues(info, expect):
    """True if the batch continues the offset sequence at `expect`: its base offset is the
    expected next offset (a COMPACTED batch may also skip ahead). The one rule every reader
    of a log uses to tell data from stale or stray bytes."""
    b = info.base_offset
    return b == expect or (b > expect and info.attributes & COMPACTED != 0)


def check(buf, pos, info):
    """True if the whole batch described by `info` is at buf[pos:] and its CRC matches."""
    end = pos + info.length
    if end > len(buf):
        return False
    crc = int.from_bytes(buf[pos + 8:pos + 12], "little")
    return zlib.crc32(memoryview(buf)[pos + 12:end]) == crc


def _lengths(section, p, count):
    """A column of `count` i32 lengths at section[p:]: (array, (min, sum, uniform)).
    Equal lengths (the common case) are recognised with one memory comparison, so their
    min and sum cost no per-record Python work."""
    raw = section[p:p + 4 * count]
    if len(raw) != 4 * count:
        raise CorruptBatchError("short length column")
    a = _i32_array(raw)
    if not count:
        return a, (0, 0, True)
    if bytes(raw[:4]) * count == raw:
        first = a[0]
        return a, (first, first * count, True)
    return a, (min(a), sum(a), False)


def _split(blob, lens, count, uniform=None):
    """Cut `blob` into `count` bytes objects of the given lengths (all >= 0)."""
    if count == 0:
        return ()
    first = lens[0]
    if uniform if uniform is not None else lens.count(first) == count:
        if first == 0:
            return (b"",) * count
        return _fields((count, first)).unpack_from(blob, 0)
    return struct.unpack_from("<" + "s".join(map(str, lens)) + "s", blob, 0)


def _split_nullable(blob, lens, count):
    if min(lens) >= 0:
        return _split(blob, lens, count)
    parts = _split(blob, [n if n >= 0 else 0 for n in lens], count)
    return tuple(None if n < 0 else p for p, n in zip(parts, lens))


def decode_columns(buf, pos, info):
    """Decode the batch at buf[pos:] (already CRC-checked) into columns.

    Returns (offsets, timestamps, keys, values, headers): sequences or iterators of length
    info.count (`repeat` objects where a column is uniform). Raises CorruptBatchError.
    """
    try:
        return _decode_columns(buf, pos, info)
    except CorruptBatchError:
        raise
    except Exception as e:  # any inconsistency inside a CRC-valid batch is corruption
        raise CorruptBatchError(f"batch at offset {info.base_offset} is malformed: {type(e).__name__}: {e}") from None


# attributes the fast path of `_decode_columns` does not handle (the general path does)
_GENERAL = CODEC_MASK | OFFSET_DELTAS | HAS_NULLS | HAS_HEADERS


def _decode_columns(buf, pos, info):
    attrs = info.attributes
    codec = attrs & CODEC_MASK
    if codec == CODEC_NONE:
        start = pos + HEADER_SIZE
        if len(buf) < start + info.section_len or pos + info.length != start + info.section_len:
            raise CorruptBatchError("record section length does not match the header")
        if not attrs & _GENERAL and info.count:
            cols = _decode_equal_lengths(buf, start, info)
            if cols is not None:
                return cols
        return _decode_general(memoryview(buf)[start:start + info.section_len], info)
    if codec == CODEC_ZSTD:
        body = memoryview(buf)[pos + HEADER_SIZE:pos + info.length]
        # decompress() sizes its output by the frame's own content size when it has one (and
        # ignores max_output_size then): check it first so no header can make us allocate
        # more than the CRC-checked section length
        declared = zstandard.frame_content_size(body)
        if declared != -1 and declared != info.section_len:
            raise CorruptBatchError("compressed section size does not match the header")
        section = _decompressor().decompress(body, max_output_size=info.section_len, allow_extra_data=False)
        if len(section) != info.section_len:
            raise CorruptBatchError("record section length does not match the header")
        if not attrs & _GENERAL and info.count:
            cols = _decode_equal_lengths(section, 0, info)
            if cols is not None:
                return cols
        return _decode_general(section, info)
    raise CorruptBatchError(f"unknown compression codec {codec}")


# Timestamp deltas tried as runs: a producer's batch holds the few milliseconds its linger
# spans, each in one run (`prepare` is given them as runs), so its column is a handful of runs
# of small deltas. Decoded as runs, every record of a run shares one int object instead of
# getting a new one from an addition (about 25 ns a record, and its deallocation, saved).
_RUN_DELTAS = 64
_DELTA_BYTES = [struct.pack("<q", d) for d in range(_RUN_DELTAS)]


def _timestamps(col, first):
    """The timestamps of a column of i64 deltas (bytes-like, 8 per record) from `first`: an
    iterator. When the column is non-decreasing runs of deltas 0.. < _RUN_DELTAS (checked byte
    for byte against the runs found, so any other column takes the general way), records of
    one run share one int."""
    a = array("q")
    a.frombytes(col)
    if _BIG:
        a.byteswap()
    if a and a[0] == 0 and 0 <= a[-1] < _RUN_DELTAS:
        last = a[-1]
        lens = []
        i = 0
        for d in range(last + 1):
            j = bisect_right(a, d, i)
            lens.append(j - i)
            i = j
        if i == len(a) and b"".join(map(mul, _DELTA_BYTES[:last + 1], lens)) == col:
            return chain.from_iterable(map(repeat, range(first, first + last + 1), lens))
    return map(add, repeat(first), a)


def _decode_equal_lengths(buf, p, info):
    """The fast path for a record section at buf[p:p + section_len] with dense offsets, no
    nulls and no headers: when every key has one length and every value another (common),
    one Struct call cuts them all. None (the general path decides) otherwise, or on anything
    inconsistent."""
    count = info.count
    attrs = info.attributes
    end = p + info.section_len
    if info.last_offset_delta != count - 1:
        raise CorruptBatchError("last offset delta does not match the record count")
    # the columns must fit in the section before any of them is read (or compared against
    # a pattern `count` long: a damaged count must not make us allocate)
    if count * ((0 if attrs & UNIFORM_TS else 8) + (4 if attrs & NO_KEYS else 8)) > info.section_len:
        return None
    if attrs & UNIFORM_TS:
        timestamps = repeat(info.first_timestamp, count)
    else:
        timestamps = _timestamps(buf[p:p + 8 * count], info.first_timestamp)
        p += 8 * count
    n4 = 4 * count
    klen = -1
    if not attrs & NO_KEYS:
        first = buf[p:p + 4]
        if buf[p:p + n4] != bytes(first) * count:
            return None
        klen = int.from_bytes(first, "little", signed=True)
        if klen < 0:
            return None
        p += n4
    first = buf[p:p + 4]
    if buf[p:p + n4] != bytes(first) * count:
        return None
    vlen = int.from_bytes(first, "little", signed=True)
    p += n4
    if vlen < 0 or p + count * (vlen + max(klen, 0)) != end:
        return None
    # `count` keys of klen bytes (none if klen < 0), then `count` values of vlen bytes
    kv = (_fields((count, klen), (count, vlen)) if klen >= 0 else _fields((count, vlen))).unpack_from(buf, p)
    base = info.base_offset
    if klen < 0:
        return range(base, base + count), timestamps, repeat(None, count), kv, repeat((), count)
    return range(base, base + count), timestamps, kv[:count], kv[count:], repeat((), count)


def _decode_general(section, info):
    count = info.count
    attrs = info.attributes
    p = 0
    base = info.base_offset
    if attrs & OFFSET_DELTAS:
        a = array("I")
        a.frombytes(section[p:p + 4 * count])
        if _BIG:
            a.byteswap()
        p += 4 * count
        # the batch may cover offsets past its last record (compaction removed them)
        if len(a) != count or (count and (a[-1] > info.last_offset_delta or
                                          any(x >= y for x, y in zip(a, a[1:])))):
            raise CorruptBatchError("bad offset deltas")
        offsets = [base + d for d in a]
    else:
        if count and info.last_offset_delta != count - 1:
            raise CorruptBatchError("last offset delta does not match the record count")
        offsets = range(base, base + count)
    if attrs & UNIFORM_TS:
        timestamps = repeat(info.first_timestamp, count)
    else:
        col = section[p:p + 8 * count]
        p += 8 * count
        if len(col) != 8 * count:
            raise CorruptBatchError("short timestamp column")
        timestamps = _timestamps(col, info.first_timestamp)
    nulls = attrs & HAS_NULLS
    klens = kst = None
    if not attrs & NO_KEYS:
        klens, kst = _lengths(section, p, count)
        p += 4 * count
    vlens, vst = _lengths(section, p, count)
    p += 4 * count
    hlens = hst = None
    if attrs & HAS_HEADERS:
        hlens, hst = _lengths(section, p, count)
        p += 4 * count
    if count:
        floor = -1 if nulls else 0
        if vst[0] < floor or (kst is not None and kst[0] < floor) or (hst is not None and hst[0] < 2):
            raise CorruptBatchError("negative length in a batch")
    ksum = 0 if klens is None else kst[1] + (klens.count(-1) if nulls else 0)
    vsum = vst[1] + (vlens.count(-1) if nulls else 0)
    hsum = 0 if hlens is None else hst[1]
    if p + ksum + vsum + hsum != len(section) and (count or not attrs & OFFSET_DELTAS):
        # (a batch of no records may carry padding: a gap written over damaged bytes)
        raise CorruptBatchError("column lengths do not add up to the record section")
    if klens is None:
        keys = repeat(None, count)
    else:
        kb = section[p:p + ksum]
        keys = _split_nullable(kb, klens, count) if nulls else _split(kb, klens, count, kst[2])
    p += ksum
    vb = section[p:p + vsum]
    values = _split_nullable(vb, vlens, count) if nulls else _split(vb, vlens, count, vst[2])
    p += vsum
    if hlens is None:
        headers = repeat((), count)
    else:
        hb = section[p:p + hsum]
        headers = [_decode_headers(h) for h in _split(hb, hlens, count, hst[2])]
    return offsets, timestamps, keys, values, headers


def decode(data):
    """Decode one whole batch from `data` (bytes-like) into a list of tuples
    (offset, timestamp_ms, key, value, headers). Raises CorruptBatchError for anything
    that is not exactly one valid batch."""
    try:
        info = peek(data, 0)
    except CorruptBatchError:
        raise
    except Exception as e:
        raise CorruptBatchError(f"not a batch: {type(e).__name__}") from None
    if info is None:
        raise CorruptBatchError(f"only {len(data)} bytes: shorter than a batch header")
    if info.length != len(data):
        raise CorruptBatchError(f"batch length {info.length} does not match the {len(data)} bytes given")
    if not check(data, 0, info):
        raise CorruptBatchError("CRC mismatch")
    cols = decode_columns(data, 0, info)
    return list(zip(*cols))


def batch_iter(buf, pos=0):
    """Yield (pos, info) for each whole, CRC-valid batch in buf from pos; stop at the first
    short or invalid one. Used by tools and recovery; the hot read path inlines this."""
    n = len(buf)
    while pos < n:
        try:
            info = peek(buf, pos)
        except CorruptBatchError:
            return
        if info is None or not check(buf, pos, info):
            return
        yield pos, info
        pos += info.length
