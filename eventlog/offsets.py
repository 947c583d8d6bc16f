"""Committed consumer-group offsets: the `OffsetStore` interface and its two implementations.

Owns, for every group, `<root>/groups/<encoded group>/group.json` (the group's real id) and
everything under `<root>/groups/<encoded group>/offsets/`. The rest of the group directory
belongs to the group layer (membership, assignment, ownership locks): this module never
creates, reads or deletes anything else there.

On disk (`FileOffsetStore`)::

    groups/<encoded group>/group.json                 {"group_id": <the real id>, "format": 1}
    groups/<encoded group>/offsets/<topic>/<p>.json   {"offset": int, "metadata": str,
                                                       "commit_time_ms": int}

Invariants
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
"""
from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
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

from ._fs import wrap_public_methods
from ._names import TOPIC_NAME_RULE, is_valid_topic_name
from .errors import (
    CorruptLogError,
    InvalidArgumentError,
    InvalidTopicError,
    InvalidTypeError,
    LogClosedError,
)
from .record import TopicPartition

__all__ = [
    "OffsetStore",
    "OffsetAndMetadata",
    "MemoryOffsetStore",
    "FileOffsetStore",
    "encode_group_id",
    "decode_group_dir",
    "MAX_OFFSET",
    "MAX_PARTITION",
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
class OffsetAndMetadata:
    """One partition's committed position: the next offset to read, with the committer's
    metadata string and the commit time (ms since the epoch)."""

    offset: int
    metadata: str = ""
    commit_time_ms: int = 0


@runtime_checkable
class OffsetStore(Protocol):
    """Where a consumer group's committed offsets live.

    A committed offset is the offset of the next record the group will read, as in Kafka.
    Implementations must refuse offsets that are not ints >= 0 (`bool` included) with
    `InvalidArgumentError` naming the value, accept plain `(topic, partition)` tuples as keys
    (converting them to `TopicPartition`), and accept any `str` as a group id.
    """

    def commit(self, group: str, offsets: Mapping[TopicPartition, int],
               metadata: Mapping[TopicPartition, str] | None = None) -> None:
        """Store `offsets` (and optional per-partition metadata strings) for `group`.

        Everything is validated before anything is written. Each partition is committed
        atomically; a multi-partition commit may be cut short by a crash (per-partition
        semantics, as in Kafka)."""

    def committed(self, group: str,
                  tps: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        """The committed offset of each of `tps` for `group`, None where there is none."""

    def all_committed(self, group: str) -> dict[TopicPartition, int]:
        """Every committed offset of `group`."""

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


def _check_metadata(metadata, tp) -> str:
    if metadata is None:
        return ""
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


def _normalize_commit(offsets, metadata) -> list[tuple[TopicPartition, int, str]]:
    """Validate a whole commit before any of it is written."""
    if not isinstance(offsets, Mapping):
        raise InvalidTypeError(
            f"offsets must be a mapping of TopicPartition -> offset, got "
            f"{type(offsets).__name__}: {_short_repr(offsets)}")
    extra: dict[TopicPartition, str] = {}
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
               metadata: Mapping[TopicPartition, str] | None = None) -> None:
        self._check_open()
        group = _check_group(group)
        entries = _normalize_commit(offsets, metadata)
        if not entries:
            return
        now = _now_ms(self._clock)
        with self._lock:
            stored = self._groups.setdefault(group, {})
            for tp, offset, text in entries:
                stored[tp] = OffsetAndMetadata(offset, text, now)

    def commit_partition(self, group: str, tp: TopicPartition, offset: int,
                         metadata: str = "") -> None:
        """Commit one partition (the building block a group layer fences)."""
        self._check_open()
        group = _check_group(group)
        tp = _check_tp(tp)
        entry = OffsetAndMetadata(_check_offset(offset, tp), _check_metadata(metadata, tp),
                                  _now_ms(self._clock))
        with self._lock:
            self._groups.setdefault(group, {})[tp] = entry

    def committed_metadata(self, group: str, tps: Iterable[TopicPartition]
                           ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        self._check_open()
        group = _check_group(group)
        tps = _check_tps(tps)
        with self._lock:
            stored = self._groups.get(group, {})
            return {tp: stored.get(tp) for tp in tps}

    def committed(self, group: str,
                  tps: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        return {tp: None if entry is None else entry.offset
                for tp, entry in self.committed_metadata(group, tps).items()}

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
               metadata: Mapping[TopicPartition, str] | None = None) -> None:
        """Commit several partitions: all are validated first, then each is written with
        `commit_partition`. Atomic per partition only: a crash in the middle can leave some
        partitions committed and others not."""
        self._check_open()
        group = _check_group(group)
        for tp, offset, text in _normalize_commit(offsets, metadata):
            self.commit_partition(group, tp, offset, text)

    def commit_partition(self, group: str, tp: TopicPartition, offset: int,
                         metadata: str = "") -> None:
        """Commit one partition atomically: afterwards every reader in every process sees
        the new offset; a crash at any instant leaves the old or the new one.

        This is the building block a group layer fences: it holds the partition's ownership
        flock around this call so that only the partition's owner can commit it."""
        self._check_open()
        group = _check_group(group)
        tp = _check_tp(tp)
        record = {
            "offset": _check_offset(offset, tp),
            "metadata": _check_metadata(metadata, tp),
            "commit_time_ms": _now_ms(self._clock),
        }
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

    def committed_metadata(self, group: str, tps: Iterable[TopicPartition]
                           ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """Like `committed`, with each partition's metadata string and commit time."""
        self._check_open()
        tps = _check_tps(tps)
        offsets_dir = os.path.join(self.group_dir(group), _OFFSETS_DIR)
        join = os.path.join
        return {tp: _read_entry(join(offsets_dir, tp.topic, f"{tp.partition}.json"))
                for tp in tps}

    def committed(self, group: str,
                  tps: Iterable[TopicPartition]) -> dict[TopicPartition, int | None]:
        return {tp: None if entry is None else entry.offset
                for tp, entry in self.committed_metadata(group, tps).items()}

    def all_committed_metadata(self, group: str) -> dict[TopicPartition, OffsetAndMetadata]:
        """Like `all_committed`, with each partition's metadata string and commit time.
        Removes temp files abandoned by dead committers on the way."""
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

    def all_committed(self, group: str) -> dict[TopicPartition, int]:
        return {tp: entry.offset for tp, entry in self.all_committed_metadata(group).items()}

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
        valid = (isinstance(offset, int) and not isinstance(offset, bool)
                 and 0 <= offset <= MAX_OFFSET and isinstance(metadata, str)
                 and isinstance(commit_time_ms, int) and not isinstance(commit_time_ms, bool))
    except (ValueError, TypeError, KeyError, AttributeError):
        valid = False
    if not valid:
        raise CorruptLogError(
            f"committed offset file {path} is damaged ({_short_repr(data[:80])}); it is never "
            f"written in place, so the disk or another program changed it. Delete the file to "
            f"fall back to auto_offset_reset, or write the right offset with commit()")
    return OffsetAndMetadata(offset, metadata, commit_time_ms)


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
