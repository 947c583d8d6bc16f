"""kafka.coordinator.assignors.sticky."""
