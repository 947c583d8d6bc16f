"""Argument checks of confluent_kafka.admin calls, made before anything is done (as the real
client does them, in Python or in its C layer): TypeError for a wrong type, ValueError for a
wrong value, each naming the argument."""
from __future__ import annotations

from eventlog.compat.confluent_kafka._model import ConsumerGroupState, ConsumerGroupTopicPartitions, ConsumerGroupType, IsolationLevel
from eventlog.compat.confluent_kafka._types import OFFSET_INVALID, TopicPartition


def options(kwargs, allowed):
    """Check the keyword options of an admin call: unknown names -> TypeError; timeouts are
    numbers >= 0; flags are bools; isolation_level an IsolationLevel."""
    for k, v in kwargs.items():
        if k not in allowed:
            raise TypeError(f"unexpected keyword argument '{k}'")
        if v is None:
            continue
        if k in ("request_timeout", "operation_timeout"):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"'{k}' must be a number of seconds, got {type(v).__name__}")
            if v < 0:
                raise ValueError(f"'{k}' must be >= 0, got {v}")
        elif k in ("validate_only", "include_authorized_operations", "require_stable"):
            if not isinstance(v, bool):
                raise TypeError(f"'{k}' must be a bool, got {type(v).__name__}")
        elif k == "isolation_level":
            if not isinstance(v, IsolationLevel):
                raise TypeError("isolation_level argument should be an IsolationLevel")


def non_empty_list(value, what, cls=None, none_is=ValueError):
    if not isinstance(value, list):
        raise TypeError(f"Expected a list of {what}, got {type(value).__name__}")
    if not value:
        raise ValueError(f"Expected a non-empty list of {what}")
    if cls is not None:
        for x in value:
            if x is None:
                raise none_is(f"Expected list of {what}, got None")
            if not isinstance(x, cls):
                raise TypeError(f"Expected list of {what}, got {type(x).__name__}")


def group_ids(value):
    non_empty_list(value, "group ids (str)", str, none_is=TypeError)
    for g in value:
        if not g:
            raise ValueError("group id must not be empty")


def states_and_types(states, types):
    for val, enum_cls, what in ((states, ConsumerGroupState, "states"), (types, ConsumerGroupType, "types")):
        if val is None:
            continue
        if not isinstance(val, set):
            raise TypeError(f"'{what}' must be a set of {enum_cls.__name__}")
        for x in val:
            if not isinstance(x, enum_cls):
                raise TypeError(f"All elements of '{what}' must be of type {enum_cls.__name__}")


def topic_partition(tp, what, need_offset=None):
    """need_offset: None (any), False (must be unset), True (must be set)."""
    if tp is None:
        raise ValueError(f"Element of {what} must not be None")
    if not isinstance(tp, TopicPartition):
        raise TypeError(f"Element of {what} must be of type 'TopicPartition' got '{type(tp).__name__}'")
    if tp.topic is None:
        raise TypeError("'topic' cannot be None")
    if not isinstance(tp.topic, str):
        raise TypeError("'topic' must be a str")
    if not tp.topic:
        raise ValueError("'topic' cannot be empty")
    if tp.partition < 0:
        raise ValueError("'partition' cannot be negative")
    if need_offset is False and tp.offset != OFFSET_INVALID:
        raise ValueError("'offset' is not allowed here")
    if need_offset is True and tp.offset < 0:
        raise ValueError("'offset' must be set to a value >= 0")


def group_offsets_request(request, altering):
    if not isinstance(request, list):
        raise TypeError("Expected request object to be a list of ConsumerGroupTopicPartitions")
    if not request:
        raise ValueError("At least one request object is required")
    if len(request) > 1:
        raise ValueError("Currently we support one consumer group per request only")
    for r in request:
        if not isinstance(r, ConsumerGroupTopicPartitions):
            raise TypeError("Expected list of ConsumerGroupTopicPartitions")
        if r.group_id is None or not isinstance(r.group_id, str):
            raise TypeError("'group_id' must be a str")
        if not r.group_id:
            raise ValueError("'group_id' cannot be empty")
        tps = r.topic_partitions
        if tps is None:
            if altering:
                raise ValueError("'topic_partitions' cannot be None when altering offsets")
            continue
        if not isinstance(tps, list):
            raise TypeError("'topic_partitions' must be a list or None")
        if not tps:
            raise ValueError("'topic_partitions' cannot be empty")
        for tp in tps:
            topic_partition(tp, "'topic_partitions'", need_offset=True if altering else False)


def topic_names(topics):
    """describe_topics: a TopicCollection of non-empty str names."""
    from eventlog.compat.confluent_kafka._model import TopicCollection
    if not isinstance(topics, TopicCollection):
        raise TypeError("Expected a TopicCollection")
    for t in topics.topic_names:
        if not isinstance(t, str):
            raise TypeError(f"Expected topic names to be str, got {type(t).__name__}")
        if not t:
            raise ValueError("topic names cannot be empty")
