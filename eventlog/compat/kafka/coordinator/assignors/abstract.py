"""kafka.coordinator.assignors.abstract."""
from eventlog.compat.kafka.coordinator.assignors._builtin import AbstractPartitionAssignor

__all__ = ["AbstractPartitionAssignor"]
