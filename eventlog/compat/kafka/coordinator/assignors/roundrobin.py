"""kafka.coordinator.assignors.roundrobin."""
from ._builtin import RoundRobinPartitionAssignor

__all__ = ["RoundRobinPartitionAssignor"]
