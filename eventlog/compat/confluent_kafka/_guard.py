"""The closed guard of the confluent facade's clients: after `close()` (or on an instance whose
`__init__` never ran, librdkafka's NULL handle) every public method raises
RuntimeError("<Client> has been closed"), as confluent-kafka does."""
from __future__ import annotations

import functools


def closed_guard(message, exempt=(), handle=()):
    """Class decorator: wrap each public method (also those of its mixins) so it raises RuntimeError(message) when
    `self._closed`; methods named in `handle` say "Handle has been closed" (librdkafka's
    shared handle methods), those in `exempt` are left alone. Sets `_closed = True` on the
    class, so an instance whose __init__ did not run counts as closed."""
    def decorate(cls):
        methods = {}
        for klass in reversed(cls.__mro__[:-1]):      # the class and its mixins, most derived last
            methods.update(vars(klass))
        for name, fn in methods.items():
            if name.startswith("_") or name in exempt or not callable(fn) or isinstance(fn, (staticmethod, classmethod)):
                continue
            msg = "Handle has been closed" if name in handle else message

            def wrapped(self, *args, _fn=fn, _msg=msg, **kwargs):
                if self._closed:
                    raise RuntimeError(_msg)
                return _fn(self, *args, **kwargs)
            functools.update_wrapper(wrapped, fn)
            setattr(cls, name, wrapped)
        cls._closed = True
        return cls
    return decorate
