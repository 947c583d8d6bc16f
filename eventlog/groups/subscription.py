"""What a group member subscribes to, and the topic metadata the group layer reads.

Owns three small ideas the membership, the leader and the admin view share:
- `Subscription`: a member's subscription, either a sorted list of valid topic names or one
  regex over topic names (full match); never both, never neither, never an empty list.
- `resolve_subscription`: a member document's subscription as sorted topic names (a pattern
  is matched against the topics that exist now; a broken pattern matches nothing).
- `TopicMeta`: partition counts read straight from each `topic.json` (cached by stat), so a
  member's background thread never touches the Log's topic cache that the consumer's thread
  uses; only topics with a readable `topic.json` exist for the group layer.
- `tp_list` / `tps_from`: the JSON form of partition lists in the group files
  (`[[topic, partition], ...]`, sorted); malformed items are dropped when read.
"""
from __future__ import annotations

import os
import re

from eventlog.errors import IllegalStateError, InvalidArgumentError, InvalidTypeError
from eventlog._os.fs import read_json_or_none
from eventlog.groups import files as gf
from eventlog.record import TopicPartition
from eventlog.storage.topic import validate_topic_name

__all__ = ["Subscription", "TopicMeta", "resolve_subscription", "tp_list", "tps_from"]


def tp_list(tps):
    return [[tp.topic, tp.partition] for tp in sorted(tps)]


def tps_from(doc):
    out = []
    for item in doc or ():
        if (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                and type(item[1]) is int):
            out.append(TopicPartition(item[0], item[1]))
    return out


class Subscription:
    """What a member subscribed to: a list of topic names, or a regex over topic names."""

    def __init__(self, topics, pattern):
        if (topics is None) == (pattern is None):
            raise IllegalStateError("subscribe() takes either a list of topics or pattern=..., "
                                    "not both and not neither")
        self.topics = None
        self.pattern = None
        if topics is not None:
            if isinstance(topics, str):
                topics = [topics]
            if not hasattr(topics, "__iter__"):
                raise InvalidTypeError(f"subscribe() takes a list of topic names, got {topics!r}")
            names = []
            for t in topics:
                validate_topic_name(t)
                if t not in names:
                    names.append(t)
            if not names:
                raise InvalidArgumentError("subscribe() needs at least one topic (or unsubscribe())")
            self.topics = sorted(names)
        else:
            if isinstance(pattern, re.Pattern):
                pattern = pattern.pattern
            if not isinstance(pattern, str):
                raise InvalidTypeError(f"pattern must be a regex str or re.Pattern, got {pattern!r}")
            try:
                self._re = re.compile(pattern)
            except re.error as e:
                raise InvalidArgumentError(f"pattern {pattern!r} is not a valid regex: {e}") from None
            self.pattern = pattern

    def matches(self, topic):
        if self.topics is not None:
            return topic in self.topics
        return self._re.fullmatch(topic) is not None


_pattern_cache = {}


def resolve_subscription(doc, all_topics):
    """A member document's subscription -> sorted topic names (patterns against all_topics())."""
    topics = doc.get("topics")
    if isinstance(topics, list):
        return sorted(t for t in topics if isinstance(t, str))
    pattern = doc.get("pattern")
    if isinstance(pattern, str):
        rx = _pattern_cache.get(pattern)
        if rx is None:
            try:
                rx = re.compile(pattern)
            except re.error:
                return []
            if len(_pattern_cache) > 256:
                _pattern_cache.clear()
            _pattern_cache[pattern] = rx
        return [t for t in all_topics() if rx.fullmatch(t)]
    return []


class TopicMeta:
    """Partition counts read straight from `topic.json` (cached by stat), so the leader's
    thread never touches the Log's topic cache that the consumer thread uses."""

    def __init__(self, paths):
        self._paths = paths
        self._cache = {}

    def count(self, topic):
        path = self._paths.topic_json(topic)
        key = gf.stat_key(path)
        if key is None:
            self._cache.pop(topic, None)
            return None
        hit = self._cache.get(topic)
        if hit is not None and hit[0] == key:
            return hit[1]
        doc = read_json_or_none(path)
        n = doc.get("partitions") if isinstance(doc, dict) else None
        if type(n) is not int or n < 1:
            return None
        self._cache[topic] = (key, n)
        return n

    def all_topics(self):
        root = self._paths.topics_dir()
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            if n.startswith((".", "~")):
                continue
            try:
                validate_topic_name(n)
            except Exception:
                continue
            if os.path.exists(os.path.join(root, n, "topic.json")):
                out.append(n)
        return sorted(out)
