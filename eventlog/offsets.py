"""Committed consumer-group offsets: the `OffsetStore` interface and its two implementations.

Owns, for every group, `<root>/groups/<encoded group>/group.json` (the group's real id) and
everything under `<root>/groups/<encoded group>/offsets/`. The rest of the group directory
belongs to the group layer (membership, assignment, ownership locks): this module never
creates, reads or deletes anything else there.

On disk (`FileOffsetStore`)::

    groups/<encoded group>/group.json                 {"group_id": <the real id>, "format": 1}
    groups/<encoded group>/offsets/<topic>/<p>.json   {"offset": int,
                                                       "metadata": str | null,
                                                       "commit_time_ms": int,
                                                       "topic_id": str,
                                                       "committer": {"member_id": str,
                                                                     "generation": int}}

Invariants
- Every committed offset records the incarnation of its topic it was committed against (the
  topic id, `Topic.topic_id`, Kafka's KIP-516): the id the committer read its position from
  (`topic_ids=`), else the topic's id at the time of the commit. A commit is only ever
  returned for the incarnation it was made on: reads compare the stored id with the one the
  caller names (`topic_ids=`), else with the topic's live id, and report a commit of another
  incarnation as absent (the group starts from `auto_offset_reset`, as for a new topic).
  Offsets without a stored id (written by eventlog 0.1, or for a topic that did not exist)
  count as committed against `NO_TOPIC_ID`, the id of topics made before ids existed; a
  topic that does not exist has no live id, so it matches only those.
  `forget_topic` (called when a topic is deleted) removes the topic's offsets from every
  group; a commit racing with it can leave one behind, carrying the deleted id, so it is
  never read: `check_committed_offsets` reports it and admin operations clean it up.
- The application's metadata is stored as given: a str, or null (`None`, distinct from
  `""`; Kafka's clients tell them apart). A commit that names no metadata for a partition
  stores `""`. A group member's fenced commit also records who committed (`committer`:
  member id and generation) in its own field, beside the application's metadata.
- A committed offset is the offset of the next record to read (Kafka's meaning): an `int` in
  [0, 2**63 - 1]; `bool` is refused. Keys are `TopicPartition`s (plain `(topic, partition)`
  tuples are converted); topic names are checked against Kafka's rule before they reach
  the file system, partitions are ints in [0, 2**31 - 1].
- Group ids may be any `str` ("", "/", "..", unicode, lone surrogates, megabytes): they never
  become file names as given. `encode_group_id` maps an id to one path component:
  `"g_"` + the id with every character outside `[a-z0-9_-]` replaced by the `%XX` escapes of
  its UTF-8 bytes (upper-case letters too, so ids that differ only in case stay apart on
  case-insensitive file systems), or, when that would exceed 200 characters,
  `"h_"` + sha256(UTF-8 of the id) in hex. The mapping is injective (percent-encoding is
  prefix-free and `%` is itself escaped; the two forms have different prefixes; sha256 does
  not collide in practice), and its result is never empty, `.`, `..`, nor contains a `/`.
- Each partition's record is its own file, written atomically (temp file in the same
  directory, fdatasync, `os.replace`, fsync of the directory): whatever instant a committer
  dies, readers see the old record or the new one, never a torn or empty file. With
  `fsync=False` this still holds across a process crash, but not across a power cut.
- A multi-partition `commit` is atomic per partition only: a crash in the middle can leave
  some partitions committed and others not (as Kafka's per-partition commit semantics).
  Commits for different partitions, from any number of processes, never lose one another.
- Temp files are named `.<final name>.<pid>.<12 hex digits>.tmp` and are held under `flock`
  by their writer until it is done. Readers never open them; cleaners (`cleanup`,
  `all_committed`, `delete_group`) delete only those whose flock they can take (their writer
  is gone: the kernel releases a dead process's flocks at once), and only names of that
  exact form (other layers' temp files in the group directory are never touched). A writer
  whose temp file disappears under it simply retries.
- Nothing read from disk is cached (only the pure id -> directory-name function is): every
  call reads the files, so processes sharing the directory see one another's latest commits.
- `delete_group` renames `offsets/` away in one step (readers see all or nothing of it) and
  then deletes it; so no other layer may keep files under `offsets/`.
- The store holds no file descriptors or locks between calls, so it is safe across fork.

`check_committed_offsets(log)` is the invariant check of this module's data: every
committed offset of every group is of its topic's live incarnation and lies within
[start_offset, end_offset] of its partition.
"""
from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import inspect
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Callable, Protocol, runtime_checkable

import attrs

from eventlog.storage.topic import NO_TOPIC_ID, read_topic_id
from eventlog._os.fs import wrap_public_methods
from eventlog.storage.names import TOPIC_NAME_RULE, is_valid_topic_name
from eventlog.errors import (
    CorruptLogError,
    InvalidArgumentError,
    InvalidTopicError,
    InvalidTypeError,
    LogClosedError,
)
from eventlog.record import TopicPartition

__all__ = [
    "OffsetStore",
    "OffsetAndMetadata",
    "Committer",
    "MemoryOffsetStore",
    "FileOffsetStore",
    "encode_group_id",
    "decode_group_dir",
    "MAX_OFFSET",
    "MAX_PARTITION",
    "NO_TOPIC_ID",
    "OffsetProblem",
    "accepts_topic_ids",
    "check_committed_offsets",
]

MAX_OFFSET = 2**63 - 1          # Kafka offsets are int64
MAX_PARTITION = 2**31 - 1       # Kafka partition numbers are int32

_PARTITION_FILE_RE = re.compile(r"(0|[1-9][0-9]{0,9})\.json")
_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
_PLAIN_PREFIX = "g_"
_HASHED_PREFIX = "h_"
_MAX_PLAIN_LENGTH = 200         # of the escaped id; a file name may have 255 bytes
_GROUP_FILE = "group.json"
_OFFSETS_DIR = "offsets"
_TOMBSTONE_PREFIX = "offsets.deleted."
_GROUP_FILE_FORMAT = 1
_WRITE_ATTEMPTS = 8


# ---------------------------------------------------------------------------------------------
# Values and the interface


@attrs.frozen
class Committer:
    """Who made a fenced group commit: the member id and the group generation."""

    member_id: str
    generation: int


@attrs.frozen
class OffsetAndMetadata:
    """One partition's committed position: the next offset to read, with the application's
    metadata (a str, or None for null metadata) and the commit time (ms since the epoch)."""

    offset: int
    metadata: str | None = ""
    commit_time_ms: int = 0
    #: the incarnation of the topic the offset was committed against (`Topic.topic_id`)
    topic_id: str = NO_TOPIC_ID
    #: the group member that made the commit (fenced commits only), else None
    committer: Committer | None = None


@runtime_checkable
class OffsetStore(Protocol):
    """Where a consumer group's committed offsets live.

    A committed offset is the offset of the next record the group will read, as in Kafka.
    Implementations must refuse offsets that are not ints >= 0 (`bool` included) with
    `InvalidArgumentError` naming the value, accept plain `(topic, partition)` tuples as keys
    (converting them to `TopicPartition`), and accept any `str` as a group id.

    Topic incarnations: `topic_ids` ({topic name: `Topic.topic_id`}) names the incarnation of
    each topic that the offsets belong to. `commit` stores it with each offset; `committed`
    returns only offsets stored with the same id (others count as absent). A store that can
    look topics up (the file store) uses the topic's live id for topics not named. Stores
    written before topic ids existed may lack the `topic_ids` keyword: the consumer then
    calls them without it (see `accepts_topic_ids`), and they cannot tell incarnations apart.
    """

    def commit(self, group: str, offsets: Mapping[TopicPartition, int],
               metadata: Mapping[TopicPartition, str] | None = None, *,
               topic_ids: Mapping[str, str] | None = None) -> None:
        """Store `offsets` (and optional per-partition metadata strings) for `group`, each
        with its topic's incarnation id from `topic_ids`.

        Everything is validated before anything is written. Each partition is committed
        atomically; a multi-partition commit may be cut short by a crash (per-partition
        semantics, as in Kafka)."""

    def committed(self, group: str, tps: Iterable[TopicPartition], *,
                  topic_ids: Mapping[str, str] | None = None) -> dict[TopicPartition, int | None]:
        """The committed offset of each of `tps` for `group`, None where there is none (or
        where it was committed against another incarnation of the topic than `topic_ids`
        names)."""

    def all_committed(self, group: str) -> dict[TopicPartition, int]:
        """Every committed offset of `group` (of the topics' live incarnations, where the
        store can tell)."""

    def delete_offsets(self, group: str, tps: Iterable[TopicPartition]) -> None:
        """Forget `group`'s committed offsets of `tps` (no error for those it has none of)."""

    def groups(self) -> list[str]:
        """The ids of the groups that have at least one committed offset, sorted."""

    def delete_group(self, group: str) -> None:
        """Forget every committed offset of `group` (no error if it has none)."""

    def close(self) -> None:
        """Release resources; later calls raise `LogClosedError`."""


# ---------------------------------------------------------------------------------------------
# Validation shared by the implementations


def _check_group(group) -> str:
    if not isinstance(group, str):
        raise InvalidTypeError(
            f"group id must be a str (any string is allowed), got {type(group).__name__}: "
            f"{_short_repr(group)}")
    return group


def _check_tp(tp) -> TopicPartition:
    if type(tp) is not TopicPartition:
        if not isinstance(tp, tuple) or len(tp) != 2:
            raise InvalidArgumentError(
                f"expected a TopicPartition(topic, partition) or a (topic, partition) tuple, "
                f"got {_short_repr(tp)}")
    topic, partition = tp
    if not is_valid_topic_name(topic):
        raise InvalidTopicError(
            f"invalid topic name {_short_repr(topic)} in {_short_repr(tp)}: topic names are "
            f"{TOPIC_NAME_RULE}")
    if (not isinstance(partition, int) or isinstance(partition, bool)
            or not 0 <= partition <= MAX_PARTITION):
        raise InvalidArgumentError(
            f"invalid partition {_short_repr(partition)} in {_short_repr(tp)}: partitions are "
            f"ints from 0 to {MAX_PARTITION}")
    return tp if type(tp) is TopicPartition else TopicPartition(topic, partition)


def _check_offset(offset, tp) -> int:
    if (not isinstance(offset, int) or isinstance(offset, bool)
            or not 0 <= offset <= MAX_OFFSET):
        raise InvalidArgumentError(
            f"invalid offset {_short_repr(offset)} for {tp}: a committed offset is the int "
            f"offset of the next record to read, from 0 to {MAX_OFFSET}")
    return int(offset)


def _check_metadata(metadata, tp) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, str):
        raise InvalidTypeError(
            f"commit metadata for {tp} must be a str or None, got "
            f"{type(metadata).__name__}: {_short_repr(metadata)}")
    return metadata


def _check_tps(tps) -> list[TopicPartition]:
    if isinstance(tps, TopicPartition) or isinstance(tps, (str, bytes)):
        raise InvalidTypeError(
            f"expected an iterable of TopicPartitions, got {_short_repr(tps)}; "
            f"wrap a single one in a list: [tp]")
    try:
        items = list(tps)
    except TypeError:
        raise InvalidTypeError(
            f"expected an iterable of TopicPartitions, got {_short_repr(tps)}") from None
    return [_check_tp(tp) for tp in items]


def _check_committer(committer) -> Committer | None:
    if committer is None or isinstance(committer, Committer):
        return committer
    raise InvalidTypeError(f"committer must be a Committer or None, got {_short_repr(committer)}")


def _normalize_commit(offsets, metadata) -> list[tuple[TopicPartition, int, str | None]]:
    """Validate a whole commit before any of it is written."""
    if not isinstance(offsets, Mapping):
        raise InvalidTypeError(
            f"offsets must be a mapping of TopicPartition -> offset, got "
            f"{type(offsets).__name__}: {_short_repr(offsets)}")
    extra: dict[TopicPartition, str | None] = {}
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise InvalidTypeError(
                f"metadata must be a mapping of TopicPartition -> str or None, got "
                f"{type(metadata).__name__}: {_short_repr(metadata)}")
        for tp, text in metadata.items():
            tp = _check_tp(tp)
            extra[tp] = _check_metadata(text, tp)
    entries = []
    for tp, offset in offsets.items():
        tp = _check_tp(tp)
        entries.append((tp, _check_offset(offset, tp), extra.pop(tp, "")))
    if extra:
        raise InvalidArgumentError(
            f"metadata given for partitions that are not being committed: "
            f"{_short_repr(sorted(extra))}; give each of them an offset too")
    return entries


def _check_topic_ids(topic_ids) -> dict[str, str]:
    if topic_ids is None:
        return {}
    if not isinstance(topic_ids, Mapping):
        raise InvalidTypeError(
            f"topic_ids must be a mapping of topic name -> topic id, got "
            f"{type(topic_ids).__name__}: {_short_repr(topic_ids)}")
    for name, tid in topic_ids.items():
        if not isinstance(name, str) or not isinstance(tid, str) or not tid:
            raise InvalidTypeError(
                f"topic_ids must map topic names (str) to topic ids (non-empty str), got "
                f"{_short_repr(name)}: {_short_repr(tid)}")
    return dict(topic_ids)


def accepts_topic_ids(store) -> bool:
    """Whether `store.commit` and `store.committed` take the `topic_ids` keyword (stores
    written for eventlog 0.1 do not; callers then leave it out)."""
    for name in ("commit", "committed"):
        try:
            params = inspect.signature(getattr(store, name)).parameters.values()
        except (AttributeError, TypeError, ValueError):
            return False
        if not any(p.name == "topic_ids" or p.kind is p.VAR_KEYWORD for p in params):
            return False
    return True


def accepts_committer(store) -> bool:
    """Whether `store.commit_partition` exists and takes the `committer` keyword (a group
    layer fencing commits on a store without it keeps the fencing data in the metadata)."""
    try:
        params = inspect.signature(store.commit_partition).parameters.values()
    except (AttributeError, TypeError, ValueError):
        return False
    return any(p.name == "committer" or p.kind is p.VAR_KEYWORD for p in params)


def _short_repr(value, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _now_ms(clock: Callable[[], float]) -> int:
    return int(clock() * 1000)


# ---------------------------------------------------------------------------------------------
# Group id <-> directory name


def encode_group_id(group_id: str) -> str:
    """The directory name (one path component) that holds the group `group_id`.

    `"g_"` + the id with every character outside `[a-z0-9_-]` written as the `%XX` escapes of
    its UTF-8 bytes, or `"h_"` + the sha256 hex digest of the id's UTF-8 when the escaped form
    would be longer than 200 characters. Injective; the result matches `[a-z0-9_%A-F-]+`.
    """
    return _encode_group_id(_check_group(group_id))


@functools.lru_cache(maxsize=4096)
def _encode_group_id(group_id: str) -> str:
    if len(group_id) <= _MAX_PLAIN_LENGTH:
        parts = []
        for ch in group_id:
            if ch in _SAFE_CHARS:
                parts.append(ch)
            else:
                parts.extend("%%%02X" % b for b in ch.encode("utf-8", "surrogatepass"))
        escaped = "".join(parts)
        if len(escaped) <= _MAX_PLAIN_LENGTH:
            return _PLAIN_PREFIX + escaped
    digest = hashlib.sha256(group_id.encode("utf-8", "surrogatepass")).hexdigest()
    return _HASHED_PREFIX + digest


_ESCAPED_RE = re.compile(r"(?:%[0-9A-F]{2})+")


def decode_group_dir(name: str) -> str | None:
    """The group id of a `"g_"` directory name, or None (hashed names, foreign names)."""
    if not name.startswith(_PLAIN_PREFIX):
        return None
    body = name[len(_PLAIN_PREFIX):]
    try:
        group_id = _ESCAPED_RE.sub(
            lambda m: bytes.fromhex(m.group().replace("%", "")).decode("utf-8", "surrogatepass"),
            body)
    except UnicodeDecodeError:
        return None
    return group_id if encode_group_id(group_id) == name else None


_TEMP_NAME_RE = re.compile(r"\.(group\.json|(?:0|[1-9][0-9]{0,9})\.json)\.[0-9]+\.[0-9a-f]{12}\.tmp")


def _is_temp_name(name: str, final: str | None = None) -> bool:
    """Whether `name` is one of this module's temp files (of the file `final`, if given).

    Only our own temp files are recognised: other layers' temp files in the group directory
    carry no flock, so they must never be taken for abandoned ones."""
    match = _TEMP_NAME_RE.fullmatch(name)
    return match is not None and (final is None or match.group(1) == final)


# ---------------------------------------------------------------------------------------------
# In memory


class MemoryOffsetStore:
    """An `OffsetStore` in a dict: thread-safe, one process only, gone on exit. For tests."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._groups: dict[str, dict[TopicPartition, OffsetAndMetadata]] = {}
        self._closed = False

    def __repr__(self):
        return f"MemoryOffsetStore(groups={len(self._groups)})"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_open(self):
        if self._closed:
            raise LogClosedError("this MemoryOffsetStore was closed; create a new one")

    def commit(self, group: str, offsets: Mapping[TopicPartition, int],
               metadata: Mapping[TopicPartition, str] | None = None, *,
               topic_ids: Mapping[str, str] | None = None) -> None:
        self._check_open()
        group = _check_group(group)
        entries = _normalize_commit(offsets, metadata)
        ids = _check_topic_ids(topic_ids)
        if not entries:
            return
        now = _now_ms(self._clock)
        with self._lock:
            stored = self._groups.setdefault(group, {})
            for tp, offset, text in entries:
                stored[tp] = OffsetAndMetadata(offset, text, now, ids.get(tp.topic, NO_TOPIC_ID))

    def commit_partition(self, group: str, tp: TopicPartition, offset: int,
                         metadata: str | None = "", *, topic_id: str | None = None,
                         committer: Committer | None = None) -> None:
        """Commit one partition (the building block a group layer fences); `committer`
        records the fencing member beside the application's metadata."""
        self._check_open()
        group = _check_group(group)
        tp = _check_tp(tp)
        ids = _check_topic_ids(None if topic_id is None else {tp.topic: topic_id})
        entry = OffsetAndMetadata(_check_offset(offset, tp), _check_metadata(metadata, tp),
                                  _now_ms(self._clock), ids.get(tp.topic, NO_TOPIC_ID),
                                  _check_committer(committer))
        with self._lock:
            self._groups.setdefault(group, {})[tp] = entry

    def committed_metadata(self, group: str, tps: Iterable[TopicPartition], *,
                           topic_ids: Mapping[str, str] | None = None
                           ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """Like `committed`, with each partition's metadata string, commit time and topic id.
        This store knows no topics: only the incarnations named in `topic_ids` are checked."""
        self._check_open()
        group = _check_group(group)
        tps = _check_tps(tps)
        ids = _check_topic_ids(topic_ids)
        with self._lock:
            stored = self._groups.get(group, {})
            out = {}
            for tp in tps:
                entry = stored.get(tp)
                if entry is not None and entry.topic_id != ids.get(tp.topic, entry.topic_id):
                    entry = None
                out[tp] = entry
            return out

    def committed(self, group: str, tps: Iterable[TopicPartition], *,
                  topic_ids: Mapping[str, str] | None = None) -> dict[TopicPartition, int | None]:
        return {tp: None if entry is None else entry.offset
                for tp, entry in self.committed_metadata(group, tps, topic_ids=topic_ids).items()}

    def all_committed(self, group: str) -> dict[TopicPartition, int]:
        self._check_open()
        group = _check_group(group)
        with self._lock:
            stored = self._groups.get(group, {})
            return {tp: stored[tp].offset for tp in sorted(stored)}

    def groups(self) -> list[str]:
        self._check_open()
        with self._lock:
            return sorted(group for group, stored in self._groups.items() if stored)

    def delete_offsets(self, group: str, tps: Iterable[TopicPartition]) -> None:
        self._check_open()
        group = _check_group(group)
        tps = _check_tps(tps)
        with self._lock:
            stored = self._groups.get(group, {})
            for tp in tps:
                stored.pop(tp, None)

    def delete_group(self, group: str) -> None:
        self._check_open()
        group = _check_group(group)
        with self._lock:
            self._groups.pop(group, None)

    def close(self) -> None:
        self._closed = True


# ---------------------------------------------------------------------------------------------
# On disk


@wrap_public_methods(where=lambda s: getattr(s, "_root", None))
class FileOffsetStore:
    """The default `OffsetStore`: one small JSON file per (group, partition) under
    `<root>/groups/<encoded group>/offsets/`, replaced atomically on every commit.

    `fsync=True` (the default) makes an acknowledged commit survive a power cut (the file and
    its directory entry are fsynced before `commit` returns); `fsync=False` skips the fsyncs:
    commits survive a crash of the process, not of the machine.
    Several processes (and threads) may use stores over the same root at once.
    """

    def __init__(self, root, fsync: bool = True, clock: Callable[[], float] = time.time):
        self._root = os.path.abspath(os.fspath(root))
        self._groups_root = os.path.join(self._root, "groups")
        self._fsync = bool(fsync)
        self._clock = clock
        self._closed = False

    def __repr__(self):
        return f"FileOffsetStore({self._root!r}, fsync={self._fsync})"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def root(self) -> str:
        return self._root

    @property
    def fsync(self) -> bool:
        return self._fsync

    def close(self) -> None:
        self._closed = True

    def _check_open(self):
        if self._closed:
            raise LogClosedError("this FileOffsetStore was closed; create a new one")

    # -- paths, for the group layer --------------------------------------------------------

    def group_dir(self, group: str) -> str:
        """The group's directory, `<root>/groups/<encode_group_id(group)>` (not created).

        The group layer keeps its own files (member files, leader lock, per-partition
        ownership locks such as `<group_dir>/owners/<topic>/<p>.lock`) here, but never under
        `offsets/`, which `delete_group` removes wholesale, and never named `group.json`."""
        return os.path.join(self._groups_root, encode_group_id(_check_group(group)))

    def ensure_group_dir(self, group: str) -> str:
        """Create the group's directory and its `group.json` if missing; return its path."""
        self._check_open()
        group = _check_group(group)
        gdir = self.group_dir(group)
        self._ensure_group_file(gdir, group)
        return gdir

    def path_for(self, group: str, tp: TopicPartition) -> str:
        """The file holding `group`'s committed offset of `tp` (may not exist yet)."""
        tp = _check_tp(tp)
        return os.path.join(self.group_dir(group), _OFFSETS_DIR, tp.topic,
                            f"{tp.partition}.json")

    # -- writing ---------------------------------------------------------------------------

    def commit(self, group: str, offsets: Mapping[TopicPartition, int],
               metadata: Mapping[TopicPartition, str] | None = None, *,
               topic_ids: Mapping[str, str] | None = None) -> None:
        """Commit several partitions: all are validated first, then each is written with
        `commit_partition`. Atomic per partition only: a crash in the middle can leave some
        partitions committed and others not. Topics not named in `topic_ids` are committed
        against their live incarnation."""
        self._check_open()
        group = _check_group(group)
        entries = _normalize_commit(offsets, metadata)
        ids = _check_topic_ids(topic_ids)
        for tp, offset, text in entries:
            self.commit_partition(group, tp, offset, text, topic_id=ids.get(tp.topic))

    def commit_partition(self, group: str, tp: TopicPartition, offset: int,
                         metadata: str | None = "", *, topic_id: str | None = None,
                         committer: Committer | None = None) -> None:
        """Commit one partition atomically: afterwards every reader in every process sees
        the new offset; a crash at any instant leaves the old or the new one. `topic_id` is
        the incarnation of the topic the offset belongs to (default: the live one);
        `committer` (a fenced group commit) is stored beside the application's `metadata`.

        This is the building block a group layer fences: it holds the partition's ownership
        flock around this call so that only the partition's owner can commit it."""
        self._check_open()
        group = _check_group(group)
        tp = _check_tp(tp)
        if topic_id is None:
            topic_id = self.live_topic_id(tp.topic)
        else:
            _check_topic_ids({tp.topic: topic_id})
        record = {
            "offset": _check_offset(offset, tp),
            "metadata": _check_metadata(metadata, tp),
            "commit_time_ms": _now_ms(self._clock),
        }
        if topic_id != NO_TOPIC_ID:   # files without an id stay readable by eventlog 0.1
            record["topic_id"] = topic_id
        committer = _check_committer(committer)
        if committer is not None:
            record["committer"] = {"member_id": committer.member_id,
                                   "generation": committer.generation}
        payload = json.dumps(record, separators=(",", ":")).encode("ascii")
        gdir = self.group_dir(group)
        topic_dir = os.path.join(gdir, _OFFSETS_DIR, tp.topic)
        self._write_file(topic_dir, f"{tp.partition}.json", payload)
        # After the offset, so that a concurrent delete_group cannot leave offsets without
        # the file that names their group (see _remove_group_dir_if_unused).
        self._ensure_group_file(gdir, group)

    def _ensure_group_file(self, gdir: str, group: str) -> None:
        try:
            os.stat(os.path.join(gdir, _GROUP_FILE))
            return
        except FileNotFoundError:
            pass
        payload = json.dumps({"group_id": group, "format": _GROUP_FILE_FORMAT},
                             separators=(",", ":")).encode("ascii")
        self._write_file(gdir, _GROUP_FILE, payload)

    def _write_file(self, directory: str, name: str, payload: bytes) -> None:
        """Atomically (re)place `directory/name` with `payload`, creating directories."""
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                self._atomic_write(directory, name, payload)
                return
            except FileNotFoundError:
                # The directory does not exist yet (first commit), or delete_group just
                # moved it away, or a cleaner took our temp file in the instant before we
                # locked it. All are cured by creating the directories and trying again.
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
                self._makedirs(directory)

    def _atomic_write(self, directory: str, name: str, payload: bytes) -> None:
        final = os.path.join(directory, name)
        temp = os.path.join(directory, f".{name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            # Held until we are done: tells cleaners that this temp file's writer is alive.
            fcntl.flock(fd, fcntl.LOCK_EX)
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            if self._fsync:
                os.fdatasync(fd)
            os.replace(temp, final)
        except BaseException:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise
        finally:
            os.close(fd)
        if self._fsync:
            _fsync_dir(directory)

    def _makedirs(self, path: str) -> None:
        missing = []
        while not os.path.isdir(path):
            missing.append(path)
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
        for directory in reversed(missing):
            try:
                os.mkdir(directory)
            except FileExistsError:
                pass
            if self._fsync:
                _fsync_dir(os.path.dirname(directory))

    # -- reading ---------------------------------------------------------------------------

    def live_topic_id(self, topic: str) -> str:
        """The id of `topic`'s live incarnation in this log, NO_TOPIC_ID if there is none
        (read from the topic's files on every call: another process may re-create it)."""
        return read_topic_id(self._root, topic) or NO_TOPIC_ID

    def _live_ids(self, topic_ids) -> Callable[[str], str]:
        ids = _check_topic_ids(topic_ids)

        def live(topic):
            tid = ids.get(topic)
            if tid is None:
                tid = ids[topic] = self.live_topic_id(topic)
            return tid
        return live

    def committed_metadata(self, group: str, tps: Iterable[TopicPartition], *,
                           topic_ids: Mapping[str, str] | None = None
                           ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """Like `committed`, with each partition's metadata string, commit time and topic id."""
        self._check_open()
        tps = _check_tps(tps)
        live = self._live_ids(topic_ids)
        offsets_dir = os.path.join(self.group_dir(group), _OFFSETS_DIR)
        join = os.path.join
        out = {}
        for tp in tps:
            entry = _read_entry(join(offsets_dir, tp.topic, f"{tp.partition}.json"))
            out[tp] = entry if entry is None or entry.topic_id == live(tp.topic) else None
        return out

    def committed(self, group: str, tps: Iterable[TopicPartition], *,
                  topic_ids: Mapping[str, str] | None = None) -> dict[TopicPartition, int | None]:
        return {tp: None if entry is None else entry.offset
                for tp, entry in self.committed_metadata(group, tps, topic_ids=topic_ids).items()}

    def all_committed_metadata(self, group: str, *, topic_ids: Mapping[str, str] | None = None
                               ) -> dict[TopicPartition, OffsetAndMetadata]:
        """Like `all_committed`, with each partition's metadata string, commit time and topic
        id. Removes temp files abandoned by dead committers on the way."""
        live = self._live_ids(topic_ids)
        return {tp: entry for tp, entry in self.stored_entries(group).items()
                if entry.topic_id == live(tp.topic)}

    def stored_entries(self, group: str) -> dict[TopicPartition, OffsetAndMetadata]:
        """Every offset stored for `group`, of whatever incarnation of its topic (compare
        `entry.topic_id`), sorted. For checks and cleanup; consumers use `committed`."""
        self._check_open()
        offsets_dir = os.path.join(self.group_dir(group), _OFFSETS_DIR)
        result = {}
        for topic, topic_dir, names in _topic_dirs(offsets_dir):
            for name in names:
                match = _PARTITION_FILE_RE.fullmatch(name)
                if match:
                    entry = _read_entry(os.path.join(topic_dir, name))
                    if entry is not None:
                        result[TopicPartition(topic, int(match.group(1)))] = entry
                elif _is_temp_name(name):
                    _remove_abandoned_temp(os.path.join(topic_dir, name))
        return {tp: result[tp] for tp in sorted(result)}

    def all_committed(self, group: str, *, topic_ids: Mapping[str, str] | None = None
                      ) -> dict[TopicPartition, int]:
        """Every committed offset of `group` of its topic's live incarnation (or of the
        incarnation `topic_ids` names)."""
        return {tp: entry.offset
                for tp, entry in self.all_committed_metadata(group, topic_ids=topic_ids).items()}

    def groups(self) -> list[str]:
        """The ids of the groups with at least one committed offset, sorted."""
        self._check_open()
        found = []
        for name in _listdir(self._groups_root):
            if not name.startswith((_PLAIN_PREFIX, _HASHED_PREFIX)):
                continue
            gdir = os.path.join(self._groups_root, name)
            if not _has_offsets(os.path.join(gdir, _OFFSETS_DIR)):
                continue
            group = _read_group_id(gdir, name)
            if group is not None:
                found.append(group)
        return sorted(found)

    # -- deleting --------------------------------------------------------------------------

    def delete_offsets(self, group: str, tps: Iterable[TopicPartition]) -> None:
        """Forget `group`'s committed offsets of `tps`, whatever incarnation they belong to
        (each file is removed on its own; a topic directory left empty goes too). The caller
        (the group layer) makes sure no member commits them meanwhile."""
        self._check_open()
        group = _check_group(group)
        tps = _check_tps(tps)
        offsets_dir = os.path.join(self.group_dir(group), _OFFSETS_DIR)
        touched = set()
        for tp in tps:
            try:
                os.unlink(os.path.join(offsets_dir, tp.topic, f"{tp.partition}.json"))
            except (FileNotFoundError, NotADirectoryError):
                continue
            touched.add(tp.topic)
        for topic in touched:
            topic_dir = os.path.join(offsets_dir, topic)
            if self._fsync:
                _fsync_dir(topic_dir)
            try:
                os.rmdir(topic_dir)
            except OSError:
                pass        # not empty (other partitions, a commit meanwhile): it stays

    def forget_topic(self, topic: str) -> int:
        """Remove every group's committed offsets of `topic` (called when the topic is
        deleted, before its directory goes, so that no newer incarnation can have offsets
        yet). Each group's `offsets/<topic>/` is renamed away in one step, then deleted.
        Returns the number of groups that had offsets of it."""
        self._check_open()
        _check_tp((topic, 0))
        removed = 0
        for name in _listdir(self._groups_root):
            if not name.startswith((_PLAIN_PREFIX, _HASHED_PREFIX)):
                continue
            gdir = os.path.join(self._groups_root, name)
            tombstone = os.path.join(gdir, _TOMBSTONE_PREFIX + secrets.token_hex(8))
            try:
                os.rename(os.path.join(gdir, _OFFSETS_DIR, topic), tombstone)
            except (FileNotFoundError, NotADirectoryError):
                continue
            removed += 1
            if self._fsync:
                _fsync_dir(os.path.join(gdir, _OFFSETS_DIR))
            shutil.rmtree(tombstone, ignore_errors=True)
        return removed

    def remove_other_incarnations(self, group: str) -> list[TopicPartition]:
        """Delete `group`'s offsets committed against an incarnation of their topic that is
        not the live one (left behind by a commit that raced with the topic's deletion).
        Only for callers that keep the group's members out meanwhile (the admin operations
        under the group's exclusive lock). Returns the partitions cleaned."""
        live = self._live_ids(None)
        stale = [tp for tp, entry in self.stored_entries(group).items()
                 if entry.topic_id != live(tp.topic)]
        self.delete_offsets(group, stale)
        return stale

    def delete_group(self, group: str) -> None:
        """Forget all of `group`'s committed offsets at once (readers see all or none).

        Removes the group directory too when nothing of other layers is left in it. The
        caller (the group layer) makes sure the group has no live members; a commit that
        races with the delete either lands before it (and is deleted) or after it (and
        stays)."""
        self._check_open()
        group = _check_group(group)
        gdir = self.group_dir(group)
        if not os.path.isdir(gdir):
            return
        tombstone = os.path.join(gdir, _TOMBSTONE_PREFIX + secrets.token_hex(8))
        try:
            os.rename(os.path.join(gdir, _OFFSETS_DIR), tombstone)
        except FileNotFoundError:
            pass
        else:
            if self._fsync:
                _fsync_dir(gdir)
        self._cleanup_group_dir(gdir)
        self._remove_group_dir_if_unused(gdir, group)

    def _remove_group_dir_if_unused(self, gdir: str, group: str) -> None:
        names = _listdir(gdir)
        if any(name != _GROUP_FILE and not _is_temp_name(name, _GROUP_FILE) for name in names):
            return          # other layers' files, or offsets committed since the rename
        if not all(_remove_abandoned_temp(os.path.join(gdir, name))
                   for name in names if _is_temp_name(name, _GROUP_FILE)):
            return          # someone is writing group.json right now
        try:
            os.unlink(os.path.join(gdir, _GROUP_FILE))
        except FileNotFoundError:
            pass
        try:
            os.rmdir(gdir)
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            # A commit (or another layer) created something meanwhile: the group lives on,
            # so give it back the file that names it.
            self._ensure_group_file(gdir, group)
            return
        if self._fsync:
            _fsync_dir(self._groups_root)

    # -- housekeeping ----------------------------------------------------------------------

    def cleanup(self) -> int:
        """Remove what dead processes left behind in every group: temp files of interrupted
        commits and half-deleted offset directories. Files of live writers are left alone.
        Returns the number of temp files and directories removed."""
        self._check_open()
        removed = 0
        for name in _listdir(self._groups_root):
            if name.startswith((_PLAIN_PREFIX, _HASHED_PREFIX)):
                removed += self._cleanup_group_dir(os.path.join(self._groups_root, name))
        return removed

    def _cleanup_group_dir(self, gdir: str) -> int:
        removed = 0
        for name in _listdir(gdir):
            path = os.path.join(gdir, name)
            if name.startswith(_TOMBSTONE_PREFIX):
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
            elif _is_temp_name(name, _GROUP_FILE) and _remove_abandoned_temp(path):
                removed += 1
        for _topic, topic_dir, names in _topic_dirs(os.path.join(gdir, _OFFSETS_DIR)):
            for name in names:
                if _is_temp_name(name) and _remove_abandoned_temp(os.path.join(topic_dir, name)):
                    removed += 1
        return removed


# ---------------------------------------------------------------------------------------------
# File helpers


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _topic_dirs(offsets_dir: str):
    """(topic, directory, names in it) for every valid topic directory under `offsets_dir`."""
    for topic in _listdir(offsets_dir):
        if not is_valid_topic_name(topic):
            continue
        topic_dir = os.path.join(offsets_dir, topic)
        yield topic, topic_dir, _listdir(topic_dir)


def _has_offsets(offsets_dir: str) -> bool:
    return any(_PARTITION_FILE_RE.fullmatch(name)
               for _topic, _dir, names in _topic_dirs(offsets_dir) for name in names)


def _read_group_id(gdir: str, name: str) -> str | None:
    """The real id of the group stored in `gdir` (named `name`), or None if unknown."""
    try:
        with open(os.path.join(gdir, _GROUP_FILE), "rb") as f:
            group = json.loads(f.read()).get("group_id")
        if isinstance(group, str) and encode_group_id(group) == name:
            return group
    except (OSError, ValueError, AttributeError):
        pass
    # group.json is written just after a group's first offset: in that instant (or if it
    # was damaged) the plain form still names the group; a hashed one cannot.
    return decode_group_dir(name)


def _read_file(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def _read_entry(path: str) -> OffsetAndMetadata | None:
    data = _read_file(path)
    if data is None:
        return None
    try:
        record = json.loads(data)
        offset = record["offset"]
        metadata = record.get("metadata", "")
        commit_time_ms = record.get("commit_time_ms", 0)
        topic_id = record.get("topic_id", NO_TOPIC_ID)    # none: written by eventlog 0.1
        committer = record.get("committer")
        if committer is not None:
            committer = Committer(committer["member_id"], committer["generation"])
        valid = (isinstance(offset, int) and not isinstance(offset, bool)
                 and 0 <= offset <= MAX_OFFSET and (metadata is None or isinstance(metadata, str))
                 and (committer is None or (isinstance(committer.member_id, str)
                                            and type(committer.generation) is int))
                 and isinstance(commit_time_ms, int) and not isinstance(commit_time_ms, bool)
                 and isinstance(topic_id, str) and topic_id != "")
    except (ValueError, TypeError, KeyError, AttributeError):
        valid = False
    if not valid:
        raise CorruptLogError(
            f"committed offset file {path} is damaged ({_short_repr(data[:80])}); it is never "
            f"written in place, so the disk or another program changed it. Delete the file to "
            f"fall back to auto_offset_reset, or write the right offset with commit()")
    return OffsetAndMetadata(offset, metadata, commit_time_ms, topic_id, committer)


def _remove_abandoned_temp(path: str) -> bool:
    """Delete a temp file whose writer is gone; True if it is gone, False if still in use."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    except IsADirectoryError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False        # its writer is alive
        try:
            same = os.path.samestat(os.stat(path), os.fstat(fd))
        except FileNotFoundError:
            return True         # renamed into place (or removed) meanwhile
        if same:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        return same
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# The invariant check


@attrs.frozen
class OffsetProblem:
    """One committed offset that breaks an invariant (see `check_committed_offsets`)."""

    group: str
    tp: TopicPartition
    offset: int
    #: "other-incarnation" | "unknown-partition" | "before-start" | "past-end"
    kind: str
    message: str


def check_committed_offsets(log, groups: Iterable[str] | None = None) -> list[OffsetProblem]:
    """Check every committed offset in `log`'s file offset store (of `groups`, default all
    groups with committed offsets) and return what is wrong, as `OffsetProblem`s (an empty
    list when all is well). Reads only; repairs nothing.

    For each stored offset of partition `p` of topic `t`:
    - "other-incarnation": it was committed against an id that is not `t`'s live
      `topic_id` (left over from a deleted topic, or from a topic of that name deleted and
      created again). Such offsets are never read, so this is garbage rather than a wrong
      answer, but deleting a topic removes its offsets, so none should be left.
    - "unknown-partition": `t` exists with the offset's id but has no partition `p`.
    - "past-end": the offset is greater than `p.end_offset`: the group claims to have read
      records the log does not have (acknowledged records lost, or a bad manual commit).
    - "before-start": the offset is less than `p.start_offset`: records the group has not
      read are gone (retention or delete_records ran first; Kafka allows this, and a
      consumer then resumes from `auto_offset_reset`). Reported so that a test can assert
      that it does not happen where retention cannot explain it.

    `log` is an open `eventlog.Log` (only `log.offset_store` and `log.topic(name)` are used). Run
    it while no process commits or deletes topics, or a commit racing with it may be
    reported (for example one that lands between reading an offset and the end offset).
    Used by `Log.verify()` and after every multi-process test.
    """
    from eventlog.errors import UnknownPartitionError, UnknownTopicError

    store = log.offset_store
    names = store.groups() if groups is None else [_check_group(g) for g in groups]
    problems = []
    topics = {}
    for group in names:
        for tp, entry in store.stored_entries(group).items():
            def problem(kind, text, tp=tp, entry=entry, group=group):
                problems.append(OffsetProblem(
                    group, tp, entry.offset, kind,
                    f"group {group!r}: committed offset {entry.offset} of {tp.topic}[{tp.partition}] "
                    f"{text}"))
            if tp.topic not in topics:
                try:
                    topics[tp.topic] = log.topic(tp.topic)
                except UnknownTopicError:
                    topics[tp.topic] = None
            topic = topics[tp.topic]
            live = NO_TOPIC_ID if topic is None else topic.topic_id
            if entry.topic_id != live:
                problem("other-incarnation",
                        f"was committed against topic id {entry.topic_id}, but the topic "
                        + ("no longer exists" if topic is None else f"now has id {live}")
                        + " (it is ignored; deleting the topic should have removed it)")
                continue
            if topic is None:
                continue       # a commit for a topic never created: nothing to compare with
            try:
                part = topic.partition(tp.partition)
            except UnknownPartitionError:
                problem("unknown-partition",
                        f"is for a partition the topic does not have "
                        f"({topic.partition_count} partitions)")
                continue
            start, end = part.start_offset, part.end_offset
            if entry.offset > end:
                problem("past-end", f"is past the partition's end offset {end}")
            elif entry.offset < start:
                problem("before-start", f"is below the partition's start offset {start}")
    return problems
