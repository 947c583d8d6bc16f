"""The confluent Consumer's offsets: store_offsets, commit (sync and async, with on_commit
callbacks served by poll), committed.

Rules kept: arguments are checked in confluent-kafka's order before anything is stored or
committed; a subscribed member's commit goes through the group layer (fenced by generation),
an assign()-mode commit straight to the offset store; either way the application's metadata
is stored as given (None, a commit without metadata, stays distinct from ""); a commit for a
partition the log does not have fails as the broker answers (UNKNOWN_TOPIC_OR_PART); an
asynchronous commit reports through on_commit, never by raising. Mixed into Consumer, which
provides the assignment (`_assigned`, `_waiting`, `_exists`), `_c`, `_store`, `_group`,
`_stored`, `_events`, `_on_commit`, `_auto_store` and `_subscribed`.
"""
from __future__ import annotations

import logging

from eventlog import errors as _el
from eventlog.record import TopicPartition as _TP
from eventlog.compat import _groups
from eventlog.compat.confluent_kafka._types import (OFFSET_INVALID, KafkaError, KafkaException, Message, TopicPartition,
                                                     _exc, _from_el, _tp)

_log = logging.getLogger("eventlog.compat.confluent_kafka")


def _message_position(message, what):
    """(tp, offset after the message) for commit(message=) / store_offsets(message=), as
    confluent-kafka computes it (an offset-less Message counts as OFFSET_INVALID)."""
    if not isinstance(message, Message):
        raise TypeError("expected cimpl.Message")
    if message.error() is not None:
        raise _exc(KafkaError._INVALID_ARG,
                   f"Cannot {what} offsets for message with error: '{message.error().str()}'")
    off = message.offset()
    return _TP(message.topic(), message.partition()), (OFFSET_INVALID if off is None else off) + 1


class CommitsMixin:
    """store_offsets / commit / committed of the confluent Consumer."""

    def store_offsets(self, message=None, offsets=None):
        if message is not None and offsets is not None:
            raise ValueError("message and offsets are mutually exclusive")
        if message is None and offsets is None:
            raise ValueError("expected either message or offsets")
        if message is not None:
            items = [_message_position(message, "store")]
        else:
            items = [(_tp(p), p.offset) for p in offsets]
        if self._auto_store:
            raise _exc(KafkaError._INVALID_ARG,
                       "StoreOffsets failed: Local: Invalid argument or configuration")
        assigned = self._assigned()
        bad = [tp for tp, _ in items if tp not in assigned]
        for tp, off in items:
            if tp in assigned:
                self._stored[tp] = off
        if bad:
            # librdkafka knows no partition object for a partition not assigned to it
            raise _exc(KafkaError._UNKNOWN_PARTITION, "StoreOffsets failed: Local: Unknown partition")

    def _commit_stored(self, tps, sync, quiet=False, revoke=False):
        assigned = self._assigned()
        cand = {tp: off for tp, off in self._stored.items()
                if tp in assigned and (tps is None or tp in tps) and off >= 0}
        if cand and not revoke and not (set(cand) & self._waiting):
            committed = self._store.committed(self._group, list(cand))
            cand = {tp: off for tp, off in cand.items() if committed.get(tp) != off}
        if not cand:
            err = KafkaError(KafkaError._NO_OFFSET)
            parts = [TopicPartition(tp.topic, tp.partition, OFFSET_INVALID) for tp in sorted(
                assigned if tps is None else (set(tps) & assigned))]
            if not sync and self._on_commit is not None and not quiet:
                self._events.append((self._on_commit, (err, parts)))
            if sync and not quiet:
                raise KafkaException(KafkaError(KafkaError._NO_OFFSET, "Commit failed: Local: No offset stored"))
            return None
        return self._commit(cand, sync, quiet)

    def _commit(self, offsets, sync, quiet=False, metadata=None):
        """Commit {tp: offset} with the application's `metadata` {tp: str or None} (a
        partition not in it commits null metadata, as librdkafka does). A subscribed member's
        commit is fenced by the group layer, which keeps its member id and generation beside
        the metadata, not in it."""
        metadata = {tp: (metadata or {}).get(tp) for tp in offsets}
        parts = [TopicPartition(tp.topic, tp.partition, off, metadata=metadata[tp])
                 for tp, off in sorted(offsets.items())]
        try:
            missing = [tp for tp in offsets if not self._exists(tp)]
            if missing:
                # the broker refuses a commit for a partition it does not have
                raise _el.UnknownTopicError("Broker: Unknown topic or partition")
            if self._subscribed:
                self._c.commit(dict(offsets), metadata=metadata)
            else:
                self._store.commit(self._group, dict(offsets), metadata)
        except _el.EventLogError as e:
            exc = _from_el(e, "Commit failed: ")
            if not sync or quiet:
                if self._on_commit is not None:
                    self._events.append((self._on_commit, (exc.args[0], parts)))
                if quiet:
                    _log.warning("offset commit for group %s failed: %s", self._group, e)
                    return None
                return None
            raise exc from e
        if not sync and self._on_commit is not None:
            self._events.append((self._on_commit, (None, parts)))
        return parts

    def commit(self, message=None, offsets=None, asynchronous=True):
        if message is not None and offsets is not None:
            raise ValueError("message and offsets are mutually exclusive")
        sync = not asynchronous
        if message is not None:
            tp, off = _message_position(message, "commit")
            offsets = [TopicPartition(tp.topic, tp.partition, off)]
        if offsets is not None:
            off, meta = {}, {}
            for p in offsets:
                if p.offset < 0:
                    continue
                off[_tp(p)] = p.offset
                md = getattr(p, "metadata", None)
                if md is not None and "\x00" in md:
                    raise ValueError("embedded null character in commit metadata")
                meta[_tp(p)] = md
            if not off:
                if sync:
                    raise _exc(KafkaError._NO_OFFSET, "Commit failed: Local: No offset stored")
                return None
            r = self._commit(off, sync, metadata=meta)
        else:
            r = self._commit_stored(None, sync)
        return r if sync else None

    def committed(self, partitions, timeout=None):
        tps = [_tp(p) for p in partitions]
        got = self._store.committed_metadata(self._group, tps)
        out = []
        for p, tp in zip(partitions, tps):
            e = got.get(tp)
            r = TopicPartition(p.topic, p.partition, OFFSET_INVALID if e is None else e.offset)
            # null metadata reads back as None, "" as ""
            if e is not None:
                r.metadata = _groups.application_metadata(e.metadata)
            out.append(r)
        return out
