"""kafka.coordinator.assignors.sticky.sticky_assignor."""
from .._builtin import StickyPartitionAssignor

__all__ = ["StickyPartitionAssignor"]
