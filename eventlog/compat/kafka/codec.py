"""kafka.codec: the compression codecs kafka-python offers, as far as this process has them.

eventlog compresses batches with zstd itself (compression is invisible to readers), so the
codecs here serve only code that calls them directly: gzip (stdlib) and zstd (zstandard, an
eventlog dependency) work; snappy and lz4 report themselves absent (`has_snappy()` False) and
raise NotImplementedError when called, as kafka-python does without those libraries.
"""
import gzip
import io
import platform

import zstandard as zstd

ZSTD_MAX_OUTPUT_SIZE = 1024 * 1024
PYPY = platform.python_implementation() == "PyPy"
snappy = lz4 = lz4f = lz4framed = xxhash = None
lz4_encode = lz4_decode = None


def has_gzip():
    return True


def has_snappy():
    return False


def has_zstd():
    return True


def has_lz4():
    return False


def gzip_encode(payload, compresslevel=None):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="w", compresslevel=9 if compresslevel is None else compresslevel) as f:
        f.write(payload)
    return buf.getvalue()


def gzip_decode(payload):
    with gzip.GzipFile(fileobj=io.BytesIO(payload), mode="r") as f:
        return f.read()


def _absent(name):
    def fn(*args, **kwargs):
        raise NotImplementedError(f"{name} codec is not available")
    fn.__name__ = name.lower() + "_codec"
    return fn


snappy_encode = _absent("Snappy")
snappy_decode = _absent("Snappy")
lz4f_decode = _absent("LZ4")
lz4_encode_old_kafka = _absent("LZ4")
lz4_decode_old_kafka = _absent("LZ4")


def zstd_encode(payload):
    return zstd.ZstdCompressor().compress(payload)


def zstd_decode(payload):
    try:
        return zstd.ZstdDecompressor().decompress(payload)
    except zstd.ZstdError:
        return zstd.ZstdDecompressor().decompress(payload, max_output_size=ZSTD_MAX_OUTPUT_SIZE)
