"""kafka.coordinator.assignors."""
from . import abstract, cooperative_sticky, range, roundrobin  # noqa: F401
from .sticky import sticky_assignor  # noqa: F401
