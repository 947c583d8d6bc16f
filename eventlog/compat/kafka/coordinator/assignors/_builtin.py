"""The assignor classes kafka-python offers; eventlog runs its own assignors of the same names."""
from __future__ import annotations

from eventlog.compat.kafka.errors import KafkaConfigurationError


class AbstractPartitionAssignor:
    name = None


class RangePartitionAssignor(AbstractPartitionAssignor):
    name = "range"
    version = 0


class RoundRobinPartitionAssignor(AbstractPartitionAssignor):
    name = "roundrobin"
    version = 0


class StickyPartitionAssignor(AbstractPartitionAssignor):
    name = "sticky"
    version = 1


class CooperativeStickyAssignor(StickyPartitionAssignor):
    name = "cooperative-sticky"


CooperativeStickyPartitionAssignor = CooperativeStickyAssignor
_BUILTIN_ASSIGNORS = {"range", "roundrobin", "sticky", "cooperative-sticky"}


def _strategy(strategies):
    names = []
    for s in strategies:
        n = getattr(s, "name", s)
        if callable(n):
            n = n()
        if n not in _BUILTIN_ASSIGNORS:
            raise KafkaConfigurationError(
                f"partition_assignment_strategy {s!r}: eventlog computes assignments with its own "
                f"range, roundrobin, sticky and cooperative-sticky assignors; custom kafka-python "
                f"assignors are not supported")
        names.append(n)
    if not names:
        raise KafkaConfigurationError("partition_assignment_strategy is empty")
    return names
