"""The group layer's files inside a group directory, and the lock primitives over them.

Owns everything in `<root>/groups/<encoded group>/` except `group.json` and `offsets/`
(those belong to `eventlog.offsets`)::

    group.lock               every live member holds LOCK_SH for its lifetime; admin
                             operations that need an empty group (reset, delete) take LOCK_EX
    leader.lock              the leader holds LOCK_EX; content: the leader's member id
    assignment.json          the current generation, written atomically by the leader only
    members/<stem>.lock      LOCK_EX by the member for its lifetime; mtime = its last poll
    members/<stem>.json      the member's description and subscription (written atomically)
    wake/<stem>/w            written by a member's background thread to wake its consumer
    owners/<topic>/<p>.lock  LOCK_EX by the partition's owner; content: owner id + generation
                             while owned, empty once released

`<stem>` is `encode_group_id(member id)`: member ids (any str) never become file names as
given. One namespace serves static members (id = `group_instance_id`) and dynamic ones (id
= `<client id>-<32 hex digits>`, created with O_EXCL), so two live members can never share one.

Invariants (the rules every function here keeps):
- Lock files are created once and not deleted while anyone may use them. A member lock file
  is deleted only by a holder of its LOCK_EX (the member itself on close, or a reaper that
  took it with LOCK_NB, which proves the member dead) after deleting the member's `.json`;
  whoever locks a member lock file checks afterwards that the path still names the inode
  it locked (`lock_fresh`), and starts again if not. Ownership and leader lock files are
  never deleted except by `delete` of the whole group under LOCK_EX of `group.lock`.
- A member is live iff its `.json` exists and its `.lock` is held. The `.lock` is locked
  before the `.json` is written, and the `.json` is deleted before the `.lock` is released,
  so a live member is never taken for a dead one.
- Probing whether a lock is held uses an O_RDONLY descriptor (its close makes no inotify
  event) and LOCK_SH|LOCK_NB, released at once. Locks are held on O_RDWR descriptors, so a
  holder's death (the kernel closing its descriptors) is an IN_CLOSE_WRITE event in the
  lock's directory: this is how the others learn of a death within milliseconds.
- Nothing here caches what it read: every call looks at the files.
"""
from __future__ import annotations

import errno
import fcntl
import os
import shutil
import time

from eventlog._os.fs import atomic_write_json, read_json_or_none
from eventlog.offsets import decode_group_dir, encode_group_id

GROUP_LOCK = "group.lock"
LEADER_LOCK = "leader.lock"
ASSIGNMENT = "assignment.json"
MEMBERS = "members"
OWNERS = "owners"
WAKE = "wake"
FORMAT = 1

_RD = os.O_RDONLY | os.O_CLOEXEC
_RW = os.O_RDWR | os.O_CLOEXEC


def member_stem(member_id: str) -> str:
    return encode_group_id(member_id)


class GroupPaths:
    """Where a group's files are (nothing is created here)."""

    __slots__ = ("root", "group", "dir", "group_lock", "leader_lock", "assignment", "members",
                 "owners", "wake")

    def __init__(self, root: str, group: str, gdir: str):
        self.root = root
        self.group = group
        self.dir = gdir
        self.group_lock = os.path.join(gdir, GROUP_LOCK)
        self.leader_lock = os.path.join(gdir, LEADER_LOCK)
        self.assignment = os.path.join(gdir, ASSIGNMENT)
        self.members = os.path.join(gdir, MEMBERS)
        self.owners = os.path.join(gdir, OWNERS)
        self.wake = os.path.join(gdir, WAKE)

    def member_lock(self, stem):
        return os.path.join(self.members, stem + ".lock")

    def member_json(self, stem):
        return os.path.join(self.members, stem + ".json")

    def wake_dir(self, stem):
        return os.path.join(self.wake, stem)

    def owner_dir(self, topic):
        return os.path.join(self.owners, topic)

    def owner_lock(self, tp):
        return os.path.join(self.owners, tp.topic, f"{tp.partition}.lock")

    def topics_dir(self):
        return os.path.join(self.root, "topics")

    def topic_json(self, topic):
        return os.path.join(self.root, "topics", topic, "topic.json")


# -- locks ---------------------------------------------------------------------------------

def try_lock(fd, shared=False) -> bool:
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def lock_fresh(fd, path) -> bool:
    """After locking `fd`: does `path` still name the file we locked? (A reaper may have
    deleted it between our open and our lock.)"""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def is_locked(path) -> bool | None:
    """True if someone holds a lock on `path`, False if not, None if there is no such file."""
    try:
        fd = os.open(path, _RD)
    except FileNotFoundError:
        return None
    try:
        if try_lock(fd, shared=True):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return True
    finally:
        os.close(fd)


def open_rw(path, exclusive=False):
    flags = _RW | os.O_CREAT | (os.O_EXCL if exclusive else 0)
    return os.open(path, flags, 0o644)


def set_content(fd, data: bytes):
    """Replace a (locked) lock file's content: write first, then cut, so a reader never sees
    it empty while it is held."""
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))


def clear_and_close(fd):
    """Release a held lock file, leaving it empty (= nobody holds it)."""
    try:
        os.ftruncate(fd, 0)
    except OSError:
        pass
    os.close(fd)


def read_small_all(path) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def write_json(path, obj):
    # Group files are ephemeral coordination state, rebuilt by the members at any time, so
    # they are not fsynced: a crash of the process cannot tear them (rename), and after a
    # power cut the members rebuild them when they start again.
    atomic_write_json(path, obj, fsync=False)


def stat_key(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


# -- members ---------------------------------------------------------------------------------

def list_member_stems(paths: GroupPaths) -> list[str]:
    """Stems of every `.json` or `.lock` in members/ (live, dead or half-gone)."""
    try:
        names = os.listdir(paths.members)
    except FileNotFoundError:
        return []
    stems = set()
    for n in names:
        if n.startswith("."):
            continue
        if n.endswith(".json"):
            stems.add(n[:-5])
        elif n.endswith(".lock"):
            stems.add(n[:-5])
    return sorted(stems)


def read_member(paths: GroupPaths, stem):
    doc = read_json_or_none(paths.member_json(stem))
    if not isinstance(doc, dict) or not isinstance(doc.get("member_id"), str):
        return None
    if member_stem(doc["member_id"]) != stem:
        return None
    return doc


def reap_member(paths: GroupPaths, stem) -> bool:
    """Remove a dead member's files. True if it was dead (and is now gone), False if alive.

    Takes the member lock with LOCK_NB (creating the file if only the `.json` is left, so
    that a static member re-joining under the same stem waits for us instead of racing us),
    checks the path still names what was locked, then deletes `.json`, wake dir and `.lock`
    (in this order, while still holding the lock)."""
    lock = paths.member_lock(stem)
    while True:
        try:
            fd = os.open(lock, _RD | os.O_CREAT, 0o644)
        except FileNotFoundError:      # members/ itself is gone: nothing left to reap
            return True
        try:
            if not try_lock(fd):
                return False
            if not lock_fresh(fd, lock):
                continue               # someone reaped and maybe re-created it: look again
            for path in (paths.member_json(stem),):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            shutil.rmtree(paths.wake_dir(stem), ignore_errors=True)
            try:
                os.unlink(lock)
            except FileNotFoundError:
                pass
            return True
        finally:
            os.close(fd)


def remove_stale_temps(directory, max_age_s=60.0):
    """Temp files (`.<name>.<hex>.tmp`, from `atomic_write`) left by a writer that died in
    the middle of a write. Our writes take microseconds, so an old one is abandoned."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    now = time.time()
    for n in names:
        if n.startswith(".") and n.endswith(".tmp"):
            p = os.path.join(directory, n)
            try:
                if now - os.stat(p).st_mtime > max_age_s:
                    os.unlink(p)
            except FileNotFoundError:
                pass


def group_id_of_dir(gdir, name) -> str | None:
    """The real id of the group kept in `gdir` (named `name`), or None."""
    doc = read_json_or_none(os.path.join(gdir, "group.json"))
    if isinstance(doc, dict):
        g = doc.get("group_id")
        if isinstance(g, str) and encode_group_id(g) == name:
            return g
    return decode_group_dir(name)


def rmdir_quiet(path):
    try:
        os.rmdir(path)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
            raise
