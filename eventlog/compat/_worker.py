"""Entry point of a worker process started by the pytest plugin's `eventlog_workers`.

    python -m eventlog.compat._worker '{"target": "pkg.mod:func", "args": [...], "patch": ["kafka"]}'

Patches the named client libraries (before importing the target, so the application's own
`import kafka` gets the facade), then calls ``func(*args, **kwargs)``. The log directory comes
from ``EVENTLOG_BOOTSTRAP_DIR``, which the plugin sets. SIGTERM raises KeyboardInterrupt in the
worker so `finally:` blocks (closing consumers, leaving the group) run on a clean stop.
"""
import importlib
import json
import signal
import sys


def _term(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv):
    spec = json.loads(argv[1])
    signal.signal(signal.SIGTERM, _term)
    if spec.get("patch"):
        from eventlog.compat import patch
        patch(*spec["patch"])
    mod_name, _, func_name = spec["target"].partition(":")
    obj = importlib.import_module(mod_name)
    for part in func_name.split("."):
        obj = getattr(obj, part)
    try:
        result = obj(*spec.get("args", []), **spec.get("kwargs", {}))
    except KeyboardInterrupt:
        return 0
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
