"""Test support: the pytest plugin that puts eventlog in place of a Kafka broker."""
