"""kafka.protocol: eventlog speaks no wire protocol; this package holds the version data code
written for kafka-python reads (which broker version the facade presents)."""
from eventlog.compat.kafka.protocol import broker_version_data  # noqa: F401 - public submodule
