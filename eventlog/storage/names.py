"""Kafka's topic-name rule, in one place for all of eventlog (core, CLI, offsets, compat).

A legal topic name is 1-249 characters, each one of `A-Z a-z 0-9 . _ -`, and is neither
"." nor "..". Nothing else is accepted: no newline, no other whitespace, no "/" and no
non-ASCII letter, so a legal name is always a safe, single path component.

`is_valid_topic_name(name)` answers yes/no (for listings that skip foreign files);
`validate_topic_name(name)` returns the name or raises `InvalidTopicError` naming the bad
value and the rule. Every check of a topic name in eventlog calls one of these two.
"""
import re

from eventlog.errors import InvalidTopicError

MAX_TOPIC_NAME_LENGTH = 249
TOPIC_NAME_RULE = f"1-{MAX_TOPIC_NAME_LENGTH} characters of [A-Za-z0-9._-], not '.' or '..'"

# fullmatch over an explicit class: "$" would also match before a final "\n"
_LEGAL = re.compile(r"[A-Za-z0-9._-]{1,%d}" % MAX_TOPIC_NAME_LENGTH)


def is_valid_topic_name(name):
    """True if `name` is a str that Kafka accepts as a topic name."""
    return isinstance(name, str) and _LEGAL.fullmatch(name) is not None and name not in (".", "..")


def validate_topic_name(name):
    """Return `name` if it is a legal topic name; otherwise raise `InvalidTopicError`
    (also an `InvalidArgumentError`/`ValueError`) naming the value and the rule."""
    if is_valid_topic_name(name):
        return name
    if not isinstance(name, str):
        raise InvalidTopicError(f"topic name must be a str of {TOPIC_NAME_RULE}, "
                                f"got {type(name).__name__}: {_short(name)}")
    raise InvalidTopicError(f"invalid topic name {_short(name)}: use {TOPIC_NAME_RULE}")


def _short(v):
    r = repr(v)
    return r if len(r) <= 80 else r[:77] + "..."
