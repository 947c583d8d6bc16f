"""`FileOffsetStore`: one atomically replaced JSON file per (group, partition) under
`<root>/groups/<encoded group>/offsets/`; the layout and the rules it keeps are in the
package docstring (`eventlog.offsets`)."""
from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Mapping
from typing import Callable


from eventlog.storage.topic import NO_TOPIC_ID, read_topic_id
from eventlog._os.fs import atomic_write, fsync_dir, remove_abandoned_temp, wrap_public_methods
from eventlog.storage.names import is_valid_topic_name
from eventlog.errors import CorruptLogError, LogClosedError
from eventlog.record import TopicPartition
from eventlog.offsets.model import (
    Committer,
    GROUP_FILE,
    GROUP_FILE_FORMAT,
    HASHED_PREFIX,
    MAX_OFFSET,
    OFFSETS_DIR,
    OffsetAndMetadata,
    PARTITION_FILE_RE,
    PLAIN_PREFIX,
    TOMBSTONE_PREFIX,
    WRITE_ATTEMPTS,
    check_committer,
    check_group,
    check_metadata,
    check_offset,
    check_topic_ids,
    check_tp,
    check_tps,
    normalize_commit,
    now_ms,
    short_repr,
)
from eventlog.offsets.names import decode_group_dir, encode_group_id, is_temp_name


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

    def durable(self) -> "FileOffsetStore":
        """This store if it fsyncs, else one over the same root that does (same clock): for
        commits that must survive a power cut whatever the log's setting, such as the
        offsets of a committed transaction."""
        return self if self._fsync else FileOffsetStore(self._root, fsync=True, clock=self._clock)

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
        return os.path.join(self._groups_root, encode_group_id(check_group(group)))

    def ensure_group_dir(self, group: str) -> str:
        """Create the group's directory and its `group.json` if missing; return its path."""
        self._check_open()
        group = check_group(group)
        gdir = self.group_dir(group)
        self._ensure_group_file(gdir, group)
        return gdir

    def path_for(self, group: str, tp: TopicPartition) -> str:
        """The file holding `group`'s committed offset of `tp` (may not exist yet)."""
        tp = check_tp(tp)
        return os.path.join(self.group_dir(group), OFFSETS_DIR, tp.topic,
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
        group = check_group(group)
        entries = normalize_commit(offsets, metadata)
        ids = check_topic_ids(topic_ids)
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
        group = check_group(group)
        tp = check_tp(tp)
        if topic_id is None:
            topic_id = self.live_topic_id(tp.topic)
        else:
            check_topic_ids({tp.topic: topic_id})
        record = {
            "offset": check_offset(offset, tp),
            "metadata": check_metadata(metadata, tp),
            "commit_time_ms": now_ms(self._clock),
        }
        if topic_id != NO_TOPIC_ID:   # files without an id stay readable by eventlog 0.1
            record["topic_id"] = topic_id
        committer = check_committer(committer)
        if committer is not None:
            record["committer"] = {"member_id": committer.member_id,
                                   "generation": committer.generation}
        payload = json.dumps(record, separators=(",", ":")).encode("ascii")
        gdir = self.group_dir(group)
        topic_dir = os.path.join(gdir, OFFSETS_DIR, tp.topic)
        self._write_file(topic_dir, f"{tp.partition}.json", payload)
        # After the offset, so that a concurrent delete_group cannot leave offsets without
        # the file that names their group (see _remove_group_dir_if_unused).
        self._ensure_group_file(gdir, group)

    def _ensure_group_file(self, gdir: str, group: str) -> None:
        try:
            os.stat(os.path.join(gdir, GROUP_FILE))
            return
        except FileNotFoundError:
            pass
        payload = json.dumps({"group_id": group, "format": GROUP_FILE_FORMAT},
                             separators=(",", ":")).encode("ascii")
        self._write_file(gdir, GROUP_FILE, payload)

    def _write_file(self, directory: str, name: str, payload: bytes) -> None:
        """Atomically (re)place `directory/name` with `payload`, creating directories."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                atomic_write(os.path.join(directory, name), payload, fsync=self._fsync)
                return
            except FileNotFoundError:
                # The directory does not exist yet (first commit), or delete_group just
                # moved it away, or a cleaner took our temp file in the instant before we
                # locked it. All are cured by creating the directories and trying again.
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                self._makedirs(directory)

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
                fsync_dir(os.path.dirname(directory), strict=True)

    # -- reading ---------------------------------------------------------------------------

    def live_topic_id(self, topic: str) -> str:
        """The id of `topic`'s live incarnation in this log, NO_TOPIC_ID if there is none
        (read from the topic's files on every call: another process may re-create it)."""
        return read_topic_id(self._root, topic) or NO_TOPIC_ID

    def _live_ids(self, topic_ids) -> Callable[[str], str]:
        ids = check_topic_ids(topic_ids)

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
        tps = check_tps(tps)
        live = self._live_ids(topic_ids)
        offsets_dir = os.path.join(self.group_dir(group), OFFSETS_DIR)
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
        offsets_dir = os.path.join(self.group_dir(group), OFFSETS_DIR)
        result = {}
        for topic, topic_dir, names in _topic_dirs(offsets_dir):
            for name in names:
                match = PARTITION_FILE_RE.fullmatch(name)
                if match:
                    entry = _read_entry(os.path.join(topic_dir, name))
                    if entry is not None:
                        result[TopicPartition(topic, int(match.group(1)))] = entry
                elif is_temp_name(name):
                    remove_abandoned_temp(os.path.join(topic_dir, name))
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
            if not name.startswith((PLAIN_PREFIX, HASHED_PREFIX)):
                continue
            gdir = os.path.join(self._groups_root, name)
            if not _has_offsets(os.path.join(gdir, OFFSETS_DIR)):
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
        group = check_group(group)
        tps = check_tps(tps)
        offsets_dir = os.path.join(self.group_dir(group), OFFSETS_DIR)
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
                fsync_dir(topic_dir, strict=True)
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
        check_tp((topic, 0))
        removed = 0
        for name in _listdir(self._groups_root):
            if not name.startswith((PLAIN_PREFIX, HASHED_PREFIX)):
                continue
            gdir = os.path.join(self._groups_root, name)
            tombstone = os.path.join(gdir, TOMBSTONE_PREFIX + secrets.token_hex(8))
            try:
                os.rename(os.path.join(gdir, OFFSETS_DIR, topic), tombstone)
            except (FileNotFoundError, NotADirectoryError):
                continue
            removed += 1
            if self._fsync:
                fsync_dir(os.path.join(gdir, OFFSETS_DIR), strict=True)
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
        group = check_group(group)
        gdir = self.group_dir(group)
        if not os.path.isdir(gdir):
            return
        tombstone = os.path.join(gdir, TOMBSTONE_PREFIX + secrets.token_hex(8))
        try:
            os.rename(os.path.join(gdir, OFFSETS_DIR), tombstone)
        except FileNotFoundError:
            pass
        else:
            if self._fsync:
                fsync_dir(gdir, strict=True)
        self._cleanup_group_dir(gdir)
        self._remove_group_dir_if_unused(gdir, group)

    def _remove_group_dir_if_unused(self, gdir: str, group: str) -> None:
        names = _listdir(gdir)
        if any(name != GROUP_FILE and not is_temp_name(name, GROUP_FILE) for name in names):
            return          # other layers' files, or offsets committed since the rename
        if not all(remove_abandoned_temp(os.path.join(gdir, name))
                   for name in names if is_temp_name(name, GROUP_FILE)):
            return          # someone is writing group.json right now
        try:
            os.unlink(os.path.join(gdir, GROUP_FILE))
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
            fsync_dir(self._groups_root, strict=True)

    # -- housekeeping ----------------------------------------------------------------------

    def cleanup(self) -> int:
        """Remove what dead processes left behind in every group: temp files of interrupted
        commits and half-deleted offset directories. Files of live writers are left alone.
        Returns the number of temp files and directories removed."""
        self._check_open()
        removed = 0
        for name in _listdir(self._groups_root):
            if name.startswith((PLAIN_PREFIX, HASHED_PREFIX)):
                removed += self._cleanup_group_dir(os.path.join(self._groups_root, name))
        return removed

    def _cleanup_group_dir(self, gdir: str) -> int:
        removed = 0
        for name in _listdir(gdir):
            path = os.path.join(gdir, name)
            if name.startswith(TOMBSTONE_PREFIX):
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
            elif is_temp_name(name, GROUP_FILE) and remove_abandoned_temp(path):
                removed += 1
        for _topic, topic_dir, names in _topic_dirs(os.path.join(gdir, OFFSETS_DIR)):
            for name in names:
                if is_temp_name(name) and remove_abandoned_temp(os.path.join(topic_dir, name)):
                    removed += 1
        return removed


# ---------------------------------------------------------------------------------------------
# File helpers


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
    return any(PARTITION_FILE_RE.fullmatch(name)
               for _topic, _dir, names in _topic_dirs(offsets_dir) for name in names)


def _read_group_id(gdir: str, name: str) -> str | None:
    """The real id of the group stored in `gdir` (named `name`), or None if unknown."""
    try:
        with open(os.path.join(gdir, GROUP_FILE), "rb") as f:
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
            f"committed offset file {path} is damaged ({short_repr(data[:80])}); it is never "
            f"written in place, so the disk or another program changed it. Delete the file to "
            f"fall back to auto_offset_reset, or write the right offset with commit()")
    return OffsetAndMetadata(offset, metadata, commit_time_ms, topic_id, committer)


