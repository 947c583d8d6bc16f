"""kafka.coordinator: the group coordinator's public names (eventlog runs its own groups)."""
