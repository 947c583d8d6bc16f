"""kafka.coordinator.assignors.range."""
from ._builtin import RangePartitionAssignor

__all__ = ["RangePartitionAssignor"]
