"""kafka.coordinator.assignors."""
from eventlog.compat.kafka.coordinator.assignors import abstract, cooperative_sticky, range, roundrobin  # noqa: F401
from eventlog.compat.kafka.coordinator.assignors.sticky import sticky_assignor  # noqa: F401
