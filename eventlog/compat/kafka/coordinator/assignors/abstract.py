"""kafka.coordinator.assignors.abstract."""
from ._builtin import AbstractPartitionAssignor

__all__ = ["AbstractPartitionAssignor"]
