"""Kafka client libraries' surfaces over eventlog, for running code written for a Kafka client
against a log directory (tests above all).

    from eventlog.compat import kafka            # kafka-python's KafkaProducer, KafkaConsumer, ...
    from eventlog.compat import confluent_kafka  # confluent-kafka's Producer, Consumer, admin
    eventlog.compat.patch("kafka")               # make `import kafka` give the facade

Where clients write: `bootstrap_servers="eventlog:///abs/path"`, else the log given to
`use_log(...)` (the pytest plugin's fixtures call it), else `$EVENTLOG_BOOTSTRAP_DIR`; see
docs/testing.md.

`patch(name)` puts the facade's modules in `sys.modules` under the real library's names
(``kafka``, ``kafka.errors``, ...; ``confluent_kafka``, ``confluent_kafka.admin``, ...), so
code that imports the library *afterwards* gets the facade. It returns a `Patch`; `undo()`
(or leaving its `with` block) puts back whatever was there before. Code that imported the real
library earlier keeps its reference: patch before the application is imported (the pytest
plugin's `eventlog_patch` ini option does that at start-up).
"""
import importlib
import sys
import threading

from eventlog.compat._common import ENV_DIR, current_target, use_log

_FACADES = {
    "kafka": "eventlog.compat.kafka",
    "kafka-python": "eventlog.compat.kafka",
    "confluent_kafka": "eventlog.compat.confluent_kafka",
    "confluent-kafka": "eventlog.compat.confluent_kafka",
}
_lock = threading.Lock()


class Patch:
    """The modules one `patch()` call replaced; `undo()` restores them (idempotent)."""

    def __init__(self, names, saved):
        self.names = names
        self._saved = saved
        self.active = True

    @property
    def replaced(self):
        """{module name: the module that was there before the patch} (those that were loaded:
        a real client library imported before `patch()`)."""
        return {name: old for name, old in self._saved.items() if old is not None}

    def undo(self):
        with _lock:
            if not self.active:
                return
            self.active = False
            for name, old in self._saved.items():
                if old is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = old

    stop = undo

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.undo()

    def __repr__(self):
        return f"<eventlog.compat.Patch {self.names} {'active' if self.active else 'undone'}>"


def facade(name):
    """The facade module for a client library name ("kafka" or "confluent_kafka")."""
    try:
        mod = _FACADES[name]
    except KeyError:
        raise ValueError(f"no eventlog facade for {name!r}; known: kafka, confluent_kafka") from None
    return importlib.import_module(mod)


def patch(*names):
    """Make `import <name>` (and its submodules) return eventlog's facade. Names: "kafka",
    "confluent_kafka" (several may be given; default both). Returns a `Patch`."""
    names = names or ("kafka", "confluent_kafka")
    mods = {}
    for name in names:
        mods.update(facade(name).MODULES)
    with _lock:
        saved = {}
        for mod_name in mods:
            saved[mod_name] = sys.modules.get(mod_name)
        # also hide real submodules we do not replace, so none of the real library leaks in
        for mod_name in list(sys.modules):
            root = mod_name.split(".")[0]
            if any(root == m.split(".")[0] for m in mods) and mod_name not in mods:
                saved[mod_name] = sys.modules.pop(mod_name)
        sys.modules.update(mods)
    return Patch(list(names), saved)


def patched(name):
    """True if `import name` currently gives eventlog's facade."""
    m = sys.modules.get(name)
    return m is not None and m is facade(name).MODULES.get(name)


__all__ = ["patch", "Patch", "patched", "facade", "use_log", "current_target", "ENV_DIR"]
