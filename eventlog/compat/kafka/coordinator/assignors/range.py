"""kafka.coordinator.assignors.range."""
from eventlog.compat.kafka.coordinator.assignors._builtin import RangePartitionAssignor

__all__ = ["RangePartitionAssignor"]
