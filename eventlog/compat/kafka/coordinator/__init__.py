"""kafka.coordinator: the group coordinator's public names (eventlog runs its own groups)."""
from . import assignors, base  # noqa: F401,E402 - public submodules
