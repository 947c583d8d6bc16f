"""kafka.coordinator.assignors.cooperative_sticky."""
from eventlog.compat.kafka.coordinator.assignors._builtin import CooperativeStickyAssignor, CooperativeStickyPartitionAssignor

__all__ = ["CooperativeStickyAssignor", "CooperativeStickyPartitionAssignor"]
