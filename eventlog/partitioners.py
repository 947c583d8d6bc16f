"""eventlog 0.1's import path of `eventlog.clients.partitioners`, kept so code written for 0.1 runs
unchanged (`import eventlog.partitioners`, `from eventlog.partitioners import ...`). This module *is* that module."""
import sys

from eventlog.clients import partitioners as _module

sys.modules[__name__] = _module
