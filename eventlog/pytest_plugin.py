"""The pytest plugin's public import path and entry point; the code lives in
`eventlog.testing.pytest_plugin`. This module *is* that module (one plugin, one name)."""
import sys

from eventlog.testing import pytest_plugin as _plugin

sys.modules[__name__] = _plugin
