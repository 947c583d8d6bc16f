"""Fixtures shared by the whole suite.

- `check_log(path, ...)` runs the storage invariant checker (see log_checker.py); tests import
  `assert_log_consistent` from `log_checker` directly too.
- The real Kafka broker's fixture (`kafka_bootstrap`, the `kafka` marker) lives in
  kafka_fixtures.py; `any_log` (every behaviour test on a directory and on that broker, the
  `directory_only` marker) in backend_fixtures.py.
"""
import pytest

from kafka_fixtures import kafka_bootstrap, pytest_collection_modifyitems, pytest_terminal_summary  # noqa: F401
from backend_fixtures import any_log, pytest_generate_tests  # noqa: F401
from log_checker import assert_log_consistent


@pytest.fixture
def check_log():
    """`check_log(path, ...)`: see `log_checker.assert_log_consistent`."""
    return assert_log_consistent
