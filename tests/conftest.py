"""Fixtures shared by the whole suite. The real Kafka broker's fixture lives in kafka_fixtures.py."""
from kafka_fixtures import kafka_bootstrap, pytest_collection_modifyitems, pytest_terminal_summary  # noqa: F401
