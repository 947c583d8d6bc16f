"""What the kafka facade's clients share: eventlog errors -> kafka-python exceptions, opening the
log named by `bootstrap_servers`, config checking, calling (de)serializers in either of
kafka-python's shapes. Every error raised is one of kafka-python's classes (or TypeError/
ValueError for bad arguments), chained to the eventlog error behind it."""
from __future__ import annotations




import contextlib

from eventlog import errors as _el
from eventlog.compat import _common
from eventlog.compat.kafka import errors
from eventlog.compat.kafka.errors import (CommitFailedError, IllegalStateError, KafkaConfigurationError, KafkaError,
                     KafkaTimeoutError, NoBrokersAvailable)

_LEADER_EPOCH = 0   # one "broker", never re-elected


def _kerr(e):
    """An eventlog error -> the kafka-python exception to raise in its place."""
    if isinstance(e, KafkaError):
        return e
    msg = str(e)
    m = [(_el.CommitFailedError, CommitFailedError),
         (_el.NoOffsetForPartitionError, errors.NoOffsetForPartitionError),
         (_el.OffsetOutOfRangeError, errors.OffsetOutOfRangeError),
         (_el.UnknownTopicError, errors.UnknownTopicOrPartitionError),
         (_el.KafkaTimeoutError, KafkaTimeoutError),
         (_el.BufferFullError, KafkaTimeoutError),
         (_el.IllegalStateError, IllegalStateError),
         (_el.ConsumerClosedError, IllegalStateError),
         (_el.ProducerClosedError, IllegalStateError),
         (_el.InvalidTopicError, errors.InvalidTopicError),
         (_el.TopicExistsError, errors.TopicAlreadyExistsError),
         (_el.RecordTooLargeError, errors.MessageSizeTooLargeError),
         (_el.RebalanceInProgressError, errors.RebalanceInProgressError),
         (_el.GroupNotEmptyError, errors.NonEmptyGroupError)]
    for src, dst in m:
        if isinstance(e, src):
            out = dst(msg)
            break
    else:
        if isinstance(e, (_el.InvalidArgumentError, _el.InvalidTypeError)):
            return e  # ValueError / TypeError subclasses, as kafka-python raises for bad args
        out = KafkaError(msg)
    out.__cause__ = e
    return out


@contextlib.contextmanager
def _translated():
    try:
        yield
    except _el.EventLogError as e:
        k = _kerr(e)
        if k is e:
            raise
        raise k from e


def _open(bootstrap, what):
    try:
        return _common.open_log(bootstrap)
    except _common.NoLogConfigured as e:
        raise NoBrokersAvailable(f"{what}: {e}") from None


def _check_configs(configs, defaults, what):
    extra = set(configs) - set(defaults)
    if extra:
        raise KafkaConfigurationError(f"Unrecognized configs: {extra}")
    c = dict(defaults)
    c.update(configs)
    return c



def _ser(fn, topic, headers, data):
    if fn is None:
        return data
    s = getattr(fn, "serialize", None)
    if s is not None:
        try:
            return s(topic, headers, data)
        except TypeError:
            return s(topic, data)
    return fn(data)


def _deser(fn, topic, headers, data):
    if fn is None:
        return data
    d = getattr(fn, "deserialize", None)
    if d is not None:
        try:
            return d(topic, headers, data)
        except TypeError:
            return d(topic, data)
    return fn(data)


def _header_size(headers):
    return sum(len(k.encode("utf-8")) + (len(v) if v is not None else 0) for k, v in headers) if headers else -1
