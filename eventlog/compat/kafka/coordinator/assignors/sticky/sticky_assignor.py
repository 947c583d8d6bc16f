"""kafka.coordinator.assignors.sticky.sticky_assignor."""
from eventlog.compat.kafka.coordinator.assignors._builtin import StickyPartitionAssignor

__all__ = ["StickyPartitionAssignor"]
