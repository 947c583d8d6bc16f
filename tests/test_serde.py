"""Tests of eventlog.clients.serde: round trips, None pass-through, error types and messages, wrap."""
import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from eventlog.errors import EventLogError, InvalidTypeError, SerializationError
from eventlog.clients.serde import (
    bytes_deserializer, bytes_serializer, json_deserializer, json_serializer, str_deserializer,
    str_serializer, wrap)


# --------------------------------------------------------------------------------------------
# bytes

def test_bytes_serializer_passes_bytes_through():
    b = b"\x00abc\xff"
    assert bytes_serializer(b) is b
    assert bytes_serializer(b"") == b""
    assert bytes_serializer(None) is None


@pytest.mark.parametrize("value", [bytearray(b"abc"), memoryview(b"abc")])
def test_bytes_serializer_copies_buffers_to_bytes(value):
    out = bytes_serializer(value)
    assert type(out) is bytes and out == b"abc"


def test_bytes_serializer_copy_is_independent():
    ba = bytearray(b"abc")
    out = bytes_serializer(ba)
    ba[0] = ord("z")
    assert out == b"abc"


@pytest.mark.parametrize("value", ["text", 1, 1.5, [1], {"a": 1}, object()])
def test_bytes_serializer_rejects_other_types(value):
    with pytest.raises(SerializationError, match=type(value).__name__):
        bytes_serializer(value)


def test_bytes_serializer_str_hint():
    with pytest.raises(SerializationError, match="str_serializer"):
        bytes_serializer("text")


def test_bytes_deserializer_is_identity():
    b = b"xyz"
    assert bytes_deserializer(b) is b
    assert bytes_deserializer(None) is None


# --------------------------------------------------------------------------------------------
# str

@settings(max_examples=300, deadline=None)
@given(st.text())
def test_str_round_trip(s):
    data = str_serializer(s)
    assert type(data) is bytes and data == s.encode("utf-8")
    assert str_deserializer(data) == s


def test_str_none_and_empty():
    assert str_serializer(None) is None
    assert str_deserializer(None) is None
    assert str_serializer("") == b""
    assert str_deserializer(b"") == ""


def test_str_serializer_non_ascii():
    assert str_serializer("héllo ✓") == "héllo ✓".encode("utf-8")


def test_str_serializer_str_subclass():
    class S(str):
        pass

    assert str_serializer(S("abc")) == b"abc"


@pytest.mark.parametrize("value", [b"bytes", 42, 1.0, ["a"]])
def test_str_serializer_rejects_non_str(value):
    with pytest.raises(SerializationError, match=type(value).__name__):
        str_serializer(value)


def test_str_serializer_lone_surrogate():
    with pytest.raises(SerializationError, match="UTF-8") as info:
        str_serializer("\ud800")
    assert isinstance(info.value.__cause__, UnicodeEncodeError)


def test_str_deserializer_buffers():
    assert str_deserializer(bytearray(b"abc")) == "abc"
    assert str_deserializer(memoryview(b"abc")) == "abc"


def test_str_deserializer_invalid_utf8():
    with pytest.raises(SerializationError, match="UTF-8") as info:
        str_deserializer(b"\xff\xfe")
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


@pytest.mark.parametrize("value", ["already str", 5])
def test_str_deserializer_wrong_type(value):
    with pytest.raises(SerializationError, match=type(value).__name__):
        str_deserializer(value)


# --------------------------------------------------------------------------------------------
# json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(json_values.filter(lambda v: v is not None))
def test_json_round_trip(obj):
    data = json_serializer(obj)
    assert type(data) is bytes
    assert json_deserializer(data) == obj
    assert json.loads(data) == obj  # plain JSON that any decoder reads


def test_json_compact_and_utf8():
    assert json_serializer({"a": [1, 2], "b": "é"}) == '{"a":[1,2],"b":"é"}'.encode("utf-8")
    assert json_serializer("x") == b'"x"'
    assert json_serializer(0) == b"0"
    assert json_serializer([]) == b"[]"


def test_json_none_is_tombstone():
    assert json_serializer(None) is None
    assert json_deserializer(None) is None
    # a JSON null written by someone else still decodes to None
    assert json_deserializer(b"null") is None


@pytest.mark.parametrize("value", [{1, 2}, object(), b"bytes", float("nan"), float("inf"),
                                   {"x": math.inf}])
def test_json_serializer_errors(value):
    with pytest.raises(SerializationError, match="json_serializer") as info:
        json_serializer(value)
    assert info.value.__cause__ is not None


def test_json_serializer_circular():
    a = []
    a.append(a)
    with pytest.raises(SerializationError):
        json_serializer(a)


def test_json_serializer_lone_surrogate():
    with pytest.raises(SerializationError):
        json_serializer({"k": "\udc80"})


@pytest.mark.parametrize("data", [b"{", b"", b"nope", b'{"a":1} trailing', b"NaN\xff",
                                  b"\xef\xbb\xbf{}"])
def test_json_deserializer_invalid(data):
    with pytest.raises(SerializationError, match="json_deserializer") as info:
        json_deserializer(data)
    assert info.value.__cause__ is not None


def test_json_deserializer_buffers_and_whitespace():
    assert json_deserializer(bytearray(b' {"a": 1} ')) == {"a": 1}
    assert json_deserializer(memoryview(b"[1]")) == [1]


@pytest.mark.parametrize("value", ['{"a":1}', 3])
def test_json_deserializer_wrong_type(value):
    with pytest.raises(SerializationError, match=type(value).__name__):
        json_deserializer(value)


# --------------------------------------------------------------------------------------------
# wrap

def test_wrap_passes_results_through():
    w = wrap(str_serializer, "key")
    assert w("abc") == b"abc"
    assert w(None) is None
    assert w.__wrapped__ is str_serializer
    assert "str_serializer" in w.__name__ and "key" in w.__name__


def test_wrap_none_is_none():
    assert wrap(None, "value") is None


def test_wrap_rejects_non_callable():
    with pytest.raises(InvalidTypeError, match="value"):
        wrap("json", "value")


@pytest.mark.parametrize("what", ["key", "value"])
def test_wrap_reraises_as_serialization_error(what):
    def boom(x):
        raise KeyError("missing field")

    w = wrap(boom, what)
    with pytest.raises(SerializationError) as info:
        w({"a": 1})
    msg = str(info.value)
    assert what in msg and "boom" in msg and "dict" in msg and "missing field" in msg
    assert isinstance(info.value.__cause__, KeyError)
    assert isinstance(info.value, EventLogError)


def test_wrap_names_what_even_for_serialization_errors():
    w = wrap(json_serializer, "value")
    with pytest.raises(SerializationError, match="value") as info:
        w({1, 2})
    assert isinstance(info.value.__cause__, SerializationError)


def test_wrap_lets_base_exceptions_through():
    def interrupt(x):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        wrap(interrupt, "key")(1)


def test_wrap_lambda_and_callable_object():
    w = wrap(lambda v: v.upper(), "value")
    assert w("a") == "A"
    with pytest.raises(SerializationError, match="lambda"):
        w(5)

    class Ser:
        def __call__(self, v):
            raise ValueError("bad")

    with pytest.raises(SerializationError, match="bad"):
        wrap(Ser(), "key")(1)
