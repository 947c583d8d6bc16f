"""A member's seat in its group: the files and locks that make a process a live member.

Owns, for one member: the shared lock on `group.lock` (so admin operations that need an
empty group wait), the member lock and member file (`members/<stem>.lock|.json`), the wake
file (`wake/<stem>/w`) and the descriptor of `leader.lock`. See `eventlog.groups.files` for
the layout and the lock rules this keeps:
- the member lock is taken before the member file is written, and on leaving the file is
  deleted before the lock (and, for a dynamic member, the lock file) goes: a live member is
  never taken for a dead one;
- a member lock file taken from a reaper is checked to still be the file at its path
  (`lock_fresh`); a dynamic member id is created with O_EXCL, a static one waits a short
  while for a reaper or prober to let go, then is refused (two live members with one
  instance id cannot be fenced);
- leadership is LOCK_NB on `leader.lock`, whose content names the leader while it leads and
  is emptied when it stops.
Waiting for a lock (an admin operation, a reaper) is waiting for other processes: it uses
real time, not the log's injectable clock.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid

from eventlog.errors import IllegalStateError, KafkaTimeoutError
from eventlog.groups import files as gf

__all__ = ["Seat"]

_STATIC_RETRY_S = 1.0       # a restarting static member waits this long for a reaper/prober
_GROUP_LOCK_WAIT_S = 30.0   # a joiner waits this long for an admin reset/delete to finish


class Seat:
    """The files and locks of one member (see the module docstring). Not thread-safe: the
    membership calls it under its mutex."""

    def __init__(self, paths, group, group_store):
        self._paths = paths
        self._group = group
        self._fstore = group_store
        self.member_id = None
        self.stem = None
        self.wake_dir = None
        self.leading = False
        self._member_fd = -1
        self._group_fd = -1
        self._leader_fd = -1
        self._wake_fd = -1

    def take(self, instance_id, client_id):
        """Become a member: group.lock (shared), member lock, wake directory. Returns the
        member id; the caller writes the member file next (`write_doc`)."""
        p = self._paths
        self._group_fd = self._lock_group_shared()
        # after the lock: a delete() that ran just before may have removed the directory
        self._fstore.ensure_group_dir(self._group)
        for d in (p.members, p.owners, p.wake):
            os.makedirs(d, exist_ok=True)
        if instance_id is not None:
            key = instance_id
            stem = gf.member_stem(key)
            fd = self._lock_static(p.member_lock(stem), key)
        else:
            while True:
                key = f"{client_id}-{uuid.uuid4().hex}"
                stem = gf.member_stem(key)
                try:
                    fd = gf.open_rw(p.member_lock(stem), exclusive=True)
                except FileExistsError:
                    continue
                # a reaper may take a lock file with no .json for a dead member's and delete
                # it between our create and our lock: then start again with a new id
                if gf.try_lock(fd) and gf.lock_fresh(fd, p.member_lock(stem)):
                    break
                os.close(fd)
        self.member_id, self.stem, self._member_fd = key, stem, fd
        self.wake_dir = p.wake_dir(stem)
        os.makedirs(self.wake_dir, exist_ok=True)
        self._wake_fd = gf.open_rw(os.path.join(self.wake_dir, "w"))
        if self._leader_fd < 0:
            self._leader_fd = gf.open_rw(p.leader_lock)
        return key

    def write_doc(self, doc):
        """Write (atomically replace) the member file."""
        gf.write_json(self._paths.member_json(self.stem), doc)

    def try_lead(self):
        """Try to become the leader (LOCK_NB on leader.lock); True if this member leads now."""
        if not self.leading and self._leader_fd >= 0 and gf.try_lock(self._leader_fd):
            self.leading = True
            gf.set_content(self._leader_fd, json.dumps({"member_id": self.member_id,
                                                        "pid": os.getpid()}).encode())
        return self.leading

    def wake(self):
        """Write a byte to the wake file: a `poll` sleeping on the wake directory wakes."""
        fd = self._wake_fd
        if fd >= 0:
            try:
                os.pwrite(fd, b"w", 0)
            except OSError:
                pass

    def touch(self):
        """Record the poll time in the member lock file's mtime (IN_ATTRIB wakes nobody)."""
        fd = self._member_fd
        if fd >= 0:
            try:
                os.utime(fd)
            except OSError:
                pass

    def release(self, delete_files):
        """Give up leadership, the wake file, the member lock (deleting the member's files
        first when `delete_files`) and the shared group lock."""
        if self._leader_fd >= 0:
            if self.leading:
                try:
                    os.ftruncate(self._leader_fd, 0)
                except OSError:
                    pass
            os.close(self._leader_fd)
            self._leader_fd = -1
        self.leading = False
        if self._wake_fd >= 0:
            os.close(self._wake_fd)
            self._wake_fd = -1
        if self._member_fd >= 0:
            p = self._paths
            if delete_files:
                # .json first, .lock last and while still holding it (see groups.files)
                try:
                    os.unlink(p.member_json(self.stem))
                except FileNotFoundError:
                    pass
                shutil.rmtree(p.wake_dir(self.stem), ignore_errors=True)
                try:
                    os.unlink(p.member_lock(self.stem))
                except FileNotFoundError:
                    pass
            os.close(self._member_fd)
            self._member_fd = -1
        if self._group_fd >= 0:
            os.close(self._group_fd)
            self._group_fd = -1

    def forget_fds(self):
        """The descriptors of every lock, forgotten (a forked child closes its copies)."""
        fds = [self._leader_fd, self._wake_fd, self._member_fd, self._group_fd]
        self._leader_fd = self._wake_fd = self._member_fd = self._group_fd = -1
        self.leading = False
        return [fd for fd in fds if fd >= 0]

    def _lock_group_shared(self):
        path = self._paths.group_lock
        deadline = time.monotonic() + _GROUP_LOCK_WAIT_S
        delay = 0.001
        while True:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:       # no group directory (yet, or deleted just now)
                self._fstore.ensure_group_dir(self._group)
                continue
            if gf.try_lock(fd, shared=True):
                if gf.lock_fresh(fd, path):
                    return fd
            os.close(fd)
            if time.monotonic() > deadline:
                raise KafkaTimeoutError(
                    f"could not join group {self._group!r}: an admin operation (reset_offsets or "
                    f"delete) has held {path} for {_GROUP_LOCK_WAIT_S:.0f} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _lock_static(self, path, key):
        deadline = time.monotonic() + _STATIC_RETRY_S
        while True:
            fd = gf.open_rw(path)
            if gf.try_lock(fd):
                if gf.lock_fresh(fd, path):
                    return fd
            os.close(fd)
            if time.monotonic() > deadline:
                doc = gf.read_member(self._paths, gf.member_stem(key)) or {}
                raise IllegalStateError(
                    f"group_instance_id {key!r} is in use by a live member of group "
                    f"{self._group!r} (pid {doc.get('pid')} on {doc.get('host')}): instance ids "
                    f"must be unique among running consumers; stop that one first")
            time.sleep(0.005)
