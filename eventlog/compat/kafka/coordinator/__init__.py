"""kafka.coordinator: the group coordinator's public names (eventlog runs its own groups)."""
from eventlog.compat.kafka.coordinator import assignors, base  # noqa: F401,E402 - public submodules
