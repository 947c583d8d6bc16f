"""The confluent Consumer's subscription plumbing: its topic list (names and ``^regex``
entries) as eventlog's subscription, and eventlog's rebalance callbacks as confluent's
on_assign / on_revoke / on_lost (offsets set with assign() inside on_assign apply once the
callback returns; revoked and lost partitions are forgotten by the consumer)."""
from __future__ import annotations

import re

from eventlog.compat.confluent_kafka._types import TopicPartition


def _pattern(topics):
    """confluent's subscription list (names, and regexes starting with ^) -> (names, pattern)."""
    names = [t for t in topics if not t.startswith("^")]
    regexes = [t for t in topics if t.startswith("^")]
    if not regexes:
        return names, None
    parts = [re.escape(n) for n in names] + [f".*(?:{r}).*" for r in regexes]
    return None, "|".join(f"(?:{p})" for p in parts)


class _Rebalance:
    """eventlog's rebalance callbacks -> confluent's on_assign / on_revoke / on_lost."""

    def __init__(self, cc, on_assign, on_revoke, on_lost):
        self.cc = cc
        self.on_assign = on_assign
        self.on_revoke = on_revoke
        self.on_lost = on_lost

    def _call(self, fn, tps):
        cc = self.cc
        parts = [TopicPartition(tp.topic, tp.partition) for tp in sorted(tps)]
        cc._in_cb = True
        cc._cb_offsets = {}
        try:
            fn(cc, parts)
        finally:
            cc._in_cb = False

    def on_partitions_assigned(self, tps):
        cc = self.cc
        for tp in tps:
            cc._app_pos.pop(tp, None)
            cc._eof.pop(tp, None)
        if self.on_assign is not None:
            self._call(self.on_assign, tps)
            for tp, off in cc._cb_offsets.items():
                if tp in tps:
                    cc._seek_raw(tp, off)
                    cc._asg_offsets[tp] = off
            cc._cb_offsets = {}

    def on_partitions_revoked(self, tps):
        cc = self.cc
        try:
            if self.on_revoke is not None:
                self._call(self.on_revoke, tps)
        finally:
            if cc._auto_commit:  # as librdkafka: after the callback, reported to on_commit
                cc._commit_stored(set(tps), sync=False, quiet=True, revoke=True)
            cc._forget(tps)

    def on_partitions_lost(self, tps):
        cc = self.cc
        try:
            fn = self.on_lost if self.on_lost is not None else self.on_revoke
            if fn is not None:
                self._call(fn, tps)
        finally:
            cc._forget(tps)
