"""kafka.version: the kafka-python version this facade mirrors."""
__version__ = "3.0.12+eventlog"
