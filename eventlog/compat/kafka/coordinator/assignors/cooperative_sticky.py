"""kafka.coordinator.assignors.cooperative_sticky."""
from ._builtin import CooperativeStickyAssignor, CooperativeStickyPartitionAssignor

__all__ = ["CooperativeStickyAssignor", "CooperativeStickyPartitionAssignor"]
