"""kafka.util: kafka-python's small helpers (Timer, topic-name check, WeakMethod, ...).
The topic-name rule is eventlog's own (`validate_topic_name`), raising kafka-python's errors."""
import functools
import re
import time
import weakref

from eventlog.storage.names import MAX_TOPIC_NAME_LENGTH
from eventlog.storage.topic import validate_topic_name
from eventlog.errors import InvalidTopicError
from eventlog.compat.kafka.errors import KafkaTimeoutError

TOPIC_MAX_LENGTH = MAX_TOPIC_NAME_LENGTH
# kafka-python's public constant, kept for code that imports it; validation uses eventlog's rule
TOPIC_LEGAL_CHARS = re.compile("^[a-zA-Z0-9._-]+$")


class Timer:
    """A deadline: `expired`, `timeout_ms` left, `elapsed_ms`, `maybe_raise()`."""
    __slots__ = ("_start_at", "_expire_at", "_timeout_ms", "_error_message")

    def __init__(self, timeout_ms, error_message=None, start_at=None):
        self._timeout_ms = timeout_ms
        self._start_at = start_at or time.monotonic()
        self._expire_at = float("inf") if timeout_ms is None else self._start_at + timeout_ms / 1000
        self._error_message = error_message

    @property
    def expired(self):
        return time.monotonic() >= self._expire_at

    @property
    def timeout_ms(self):
        if self._timeout_ms is None:
            return None
        if self._expire_at == float("inf"):
            return float("inf")
        return max(0, int((self._expire_at - time.monotonic()) * 1000))

    @property
    def timeout_secs(self):
        ms = self.timeout_ms
        return None if ms is None else ms / 1000

    @property
    def elapsed_ms(self):
        return int(1000 * (time.monotonic() - self._start_at))

    def maybe_raise(self):
        if self.expired:
            raise KafkaTimeoutError(self._error_message)

    def __str__(self):
        return f"Timer({self.timeout_ms} ms remaining)"


def ensure_valid_topic_name(topic):
    """TypeError for a non-str, ValueError for an illegal name (Kafka's rule), as kafka-python."""
    if topic is None:
        raise TypeError("All topics must not be None")
    if not isinstance(topic, str):
        raise TypeError("All topics must be strings")
    try:
        validate_topic_name(topic)
    except InvalidTopicError as e:
        raise ValueError(str(e)) from None


class WeakMethod:
    """A callable weakly referencing a bound method and its object."""

    def __init__(self, object_dot_method):
        self.target = weakref.ref(object_dot_method.__self__)
        self._target_id = id(self.target())
        self.method = weakref.ref(object_dot_method.__func__)
        self._method_id = id(self.method())

    def __call__(self, *args, **kwargs):
        return self.method()(self.target(), *args, **kwargs)

    def __hash__(self):
        return hash(self.target) ^ hash(self.method)

    def __eq__(self, other):
        return (isinstance(other, WeakMethod) and self._target_id == other._target_id and
                self._method_id == other._method_id)


class Dict(dict):
    """A dict that can be weakly referenced."""


def synchronized(func):
    """Method decorator: run holding `self._lock`."""
    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return func(self, *args, **kwargs)
    return wrapper


class classproperty:
    def __init__(self, f):
        self.f = f

    def __get__(self, obj, owner):
        return self.f(owner)


class EnumHelper:
    """Mixin for enums: build_from / value_for accept a member, a value or a name."""

    @classmethod
    def build_from(cls, val):
        if isinstance(val, cls):
            return val
        try:
            return cls(val)
        except ValueError:
            pass
        try:
            return cls[str(val).strip().upper().replace("-", "_")]
        except KeyError:
            raise ValueError(f"Unrecognized {cls.__name__}: {val}") from None

    @classmethod
    def value_for(cls, val):
        return cls.build_from(val).value
