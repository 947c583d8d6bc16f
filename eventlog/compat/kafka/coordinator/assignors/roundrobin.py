"""kafka.coordinator.assignors.roundrobin."""
from eventlog.compat.kafka.coordinator.assignors._builtin import RoundRobinPartitionAssignor

__all__ = ["RoundRobinPartitionAssignor"]
