"""Shared fixtures. `check_log(path, ...)` runs the storage invariant checker (see
log_checker.py); tests import `assert_log_consistent` from `log_checker` directly too."""
import pytest

from log_checker import assert_log_consistent


@pytest.fixture
def check_log():
    """`check_log(path, ...)`: see `log_checker.assert_log_consistent`."""
    return assert_log_consistent
