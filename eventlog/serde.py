"""eventlog 0.1's import path of `eventlog.clients.serde`, kept so code written for 0.1 runs
unchanged (`import eventlog.serde`, `from eventlog.serde import ...`). This module *is* that module."""
import sys

from eventlog.clients import serde as _module

sys.modules[__name__] = _module
