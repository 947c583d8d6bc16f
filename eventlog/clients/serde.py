"""Ready-made serializers and deserializers for keys and values, and `wrap`.

A serializer is a plain callable ``obj -> bytes | None`` and a deserializer a plain callable
``bytes | None -> obj``; the producer and consumer accept any such callable. This module owns
the stock ones (bytes, UTF-8 str, compact JSON) and `wrap`, which the producer and consumer
use to turn any failure of a user callable into a `SerializationError` naming the key or
value.

Invariants:

* None always maps to None in both directions, so tombstones (null values) and keyless
  records pass through every stock serde unchanged.
* Serializers return `bytes` (never bytearray or memoryview), deserializers build a new
  object, and both either succeed or raise `SerializationError` with the cause chained and a
  message naming the offending type; nothing is coerced silently (no ``str(42)``).
* JSON is strict: compact separators, UTF-8, no NaN/Infinity (not valid JSON), and the
  deserializer accepts UTF-8 only.
* Each function does its work and nothing else: encoders and decoders are built once at
  import, and the common case runs without extra checks.
"""
import json

from eventlog.errors import InvalidTypeError, SerializationError

__all__ = [
    "bytes_serializer", "bytes_deserializer", "str_serializer", "str_deserializer",
    "json_serializer", "json_deserializer", "wrap",
]


def bytes_serializer(value):
    """bytes -> the same bytes; bytearray/memoryview -> a bytes copy; None -> None.

    Any other type raises `SerializationError` (str is not encoded implicitly: use
    `str_serializer`).
    """
    if value.__class__ is bytes or value is None:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    hint = "; use str_serializer for text" if isinstance(value, str) else ""
    raise SerializationError(
        f"bytes_serializer needs bytes, bytearray or memoryview, got {type(value).__name__}"
        f"{hint}")


def bytes_deserializer(data):
    """Identity: the record's bytes (or None) as they are."""
    return data


def str_serializer(value):
    """str -> its UTF-8 bytes; None -> None; anything else raises `SerializationError`."""
    if value.__class__ is str or (value is not None and isinstance(value, str)):
        try:
            return value.encode()
        except UnicodeEncodeError as e:  # lone surrogates
            raise SerializationError(f"str_serializer could not encode the str as UTF-8: {e}") \
                from e
    if value is None:
        return None
    raise SerializationError(f"str_serializer needs a str, got {type(value).__name__}")


def str_deserializer(data):
    """UTF-8 bytes (or bytearray/memoryview) -> str; None -> None; invalid UTF-8 or another
    type raises `SerializationError`."""
    if data is None:
        return None
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError as e:
        raise SerializationError(f"str_deserializer got bytes that are not UTF-8: {e}") from e
    except TypeError as e:
        raise SerializationError(
            f"str_deserializer needs bytes, got {type(data).__name__}") from e


_json_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
_json_decode = json.JSONDecoder().decode


def json_serializer(obj):
    """A JSON-encodable object -> compact UTF-8 JSON bytes; None -> None (a tombstone, not
    ``b"null"``). Unencodable objects (sets, NaN, ...) raise `SerializationError`."""
    if obj is None:
        return None
    try:
        return _json_encode(obj).encode()
    except (TypeError, ValueError, RecursionError) as e:  # UnicodeEncodeError is a ValueError
        raise SerializationError(
            f"json_serializer could not encode a {type(obj).__name__}: {e}") from e


def json_deserializer(data):
    """UTF-8 JSON bytes (or bytearray/memoryview) -> object; None -> None. Invalid UTF-8,
    invalid JSON or a non-bytes argument raises `SerializationError`."""
    if data is None:
        return None
    try:
        return _json_decode(str(data, "utf-8"))
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError
        raise SerializationError(f"json_deserializer got invalid JSON: {e}") from e
    except TypeError as e:
        raise SerializationError(
            f"json_deserializer needs bytes, got {type(data).__name__}") from e


def wrap(fn, what):
    """Return a callable that calls ``fn(x)`` and re-raises any `Exception` from it as a
    `SerializationError` whose message names `what` (``"key"`` or ``"value"``) and `fn`, with
    the original exception chained as ``__cause__``.

    ``wrap(None, what)`` returns None (no serializer configured); a non-callable `fn` raises
    `InvalidTypeError` at once rather than at the first record.
    """
    if fn is None:
        return None
    if not callable(fn):
        raise InvalidTypeError(
            f"the {what} serializer/deserializer must be callable, got {type(fn).__name__} "
            f"{fn!r}")
    name = getattr(fn, "__qualname__", None) or repr(fn)

    def wrapped(x):
        try:
            return fn(x)
        except Exception as e:
            raise SerializationError(
                f"{name} failed on the {what} (a {type(x).__name__}): {e}") from e

    wrapped.__name__ = wrapped.__qualname__ = f"wrap({name}, {what!r})"
    wrapped.__doc__ = fn.__doc__
    wrapped.__wrapped__ = fn
    return wrapped


def serialize(fn, obj, what, topic):
    """`fn(obj)` for a producer's `what` ("key" or "value") serializer, checked: its errors and
    a result that is not bytes-like become SerializationError naming the serializer and topic
    (SerializationErrors it raises pass unchanged). The one serializer call of every producer."""
    try:
        out = fn(obj)
    except SerializationError:
        raise
    except Exception as e:
        raise SerializationError(f"{what} serializer {getattr(fn, '__name__', fn)!r} failed for topic "
                                 f"{topic!r}: {type(e).__name__}: {e}") from e
    if out is not None and not isinstance(out, (bytes, bytearray, memoryview)):
        raise SerializationError(f"{what} serializer returned {type(out).__name__}, not bytes")
    return out
