"""The admin view of a consumer group: `ConsumerGroup` (`log.group(id)`) and `list_groups`.

Owns no state: every call reads the group files (see `eventlog.groups.files`) and the
committed offsets (through the Log's one `OffsetStore`), and holds nothing open between calls.

Rules kept:
- Reading never disturbs the members: owners are read from the lock files' contents (written
  by their holders), never by probing the ownership locks (a probe could make a member's
  LOCK_NB attempt fail at that instant). A lock file's content counts only if the live
  member it names has the pid it names (a static member back from the dead has a new pid).
- Operations that change what members read (`reset_offsets`, `delete_offsets`, `delete`)
  take LOCK_EX of `group.lock`, which every live member holds shared: they run only while
  no member is live (else `GroupNotEmptyError` naming the members), and a joiner waits.
- `reset_offsets` validates the whole plan before taking the lock and writes each
  partition's offset against the topic incarnation it was computed from.
"""
from __future__ import annotations

import json
import os
import shutil

import attrs

from eventlog._os.fs import wrap_public_methods
from eventlog.errors import CommitFailedError, GroupNotEmptyError, InvalidArgumentError, InvalidTypeError, UnknownTopicError
from eventlog._os.fs import read_json_or_none
from eventlog.groups import files as gf
from eventlog.groups.subscription import tps_from
from eventlog.record import TopicPartition
from eventlog.storage.topic import validate_topic_name

__all__ = ["ConsumerGroup", "MemberDescription", "list_groups"]


@attrs.frozen
class MemberDescription:
    """One live member of a group, as `ConsumerGroup.members()` reports it."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    host: str
    pid: int
    topics: list            # subscribed topic names (a pattern's matches at the last generation)
    pattern: str | None
    assignment: list        # [TopicPartition] given by the current generation
    owned: list             # [TopicPartition] whose ownership lock it holds now
    last_poll_ms: int       # when its consumer last called poll (within ~1 s), ms since epoch
    joined_ms: int
    is_leader: bool


@wrap_public_methods(where=lambda g: getattr(getattr(g, "_log", None), "path", None))
class ConsumerGroup:
    """Admin view of a consumer group (`log.group(group_id)`): its members, assignment,
    committed offsets and lag; resetting offsets and deleting it when no member is running.

    Reads the files on every call; holds nothing open between calls."""

    def __init__(self, log_, group_id, store):
        if not isinstance(group_id, str):
            raise InvalidTypeError(f"group id must be a str, got {type(group_id).__name__}: {group_id!r}")
        self._log = log_
        self.group_id = group_id
        self._store = store
        self._paths = gf.GroupPaths(log_.path, group_id, store.group_dir(group_id))

    def __repr__(self):
        return f"<ConsumerGroup {self.group_id!r} generation={self.generation}>"

    def _assignment_doc(self):
        doc = read_json_or_none(self._paths.assignment)
        return doc if isinstance(doc, dict) else {}

    @property
    def generation(self):
        """The current generation number (None if the group never had an assignment)."""
        g = self._assignment_doc().get("generation")
        return g if type(g) is int else None

    @property
    def assignor(self):
        """The name of the assignor of the current generation (or None)."""
        return self._assignment_doc().get("assignor")

    @property
    def protocol(self):
        return self._assignment_doc().get("protocol")

    def assignment(self):
        """{member id: [TopicPartition]} of the current generation (may still name a static
        member that is gone but within its session timeout)."""
        return {m: tps_from(e.get("partitions"))
                for m, e in (self._assignment_doc().get("members") or {}).items() if isinstance(e, dict)}

    def _live(self):
        p = self._paths
        out = {}
        for stem in gf.list_member_stems(p):
            doc = gf.read_member(p, stem)
            if doc is not None and gf.is_locked(p.member_lock(stem)):
                out[doc["member_id"]] = (stem, doc)
        return out

    @staticmethod
    def _holder(data, live):
        """The live member named by a lock file's content, if the content was written by its
        current process (a static member that died and came back has a new pid: the entry
        of its former life is stale). No lock is probed: a probe could make a member's
        LOCK_NB attempt on it fail at that instant."""
        if not data:
            return None
        try:
            doc = json.loads(data)
            mid, pid = doc.get("member_id"), doc.get("pid")
        except (ValueError, AttributeError):
            return None
        entry = live.get(mid)
        if entry is None or entry[1].get("pid") != pid:
            return None
        return mid

    def owners(self):
        """{TopicPartition: member id} of the partitions some live member holds now (read
        from the lock files' contents, written by their holders)."""
        live = self._live()
        out = {}
        try:
            topics = os.listdir(self._paths.owners)
        except FileNotFoundError:
            return out
        for topic in sorted(topics):
            d = self._paths.owner_dir(topic)
            try:
                names = os.listdir(d)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for n in names:
                if not n.endswith(".lock") or not n[:-5].isdigit():
                    continue
                mid = self._holder(gf.read_small_all(os.path.join(d, n)), live)
                if mid is not None:
                    out[TopicPartition(topic, int(n[:-5]))] = mid
        return dict(sorted(out.items()))

    def members(self):
        """The live members, sorted by id (a list of `MemberDescription`)."""
        live = self._live()
        assign = self.assignment()
        owners = self.owners()
        leader = self._holder(gf.read_small_all(self._paths.leader_lock), live)
        out = []
        for mid in sorted(live):
            stem, doc = live[mid]
            try:
                last = int(os.stat(self._paths.member_lock(stem)).st_mtime * 1000)
            except FileNotFoundError:
                continue
            topics = (self._assignment_doc().get("members") or {}).get(mid, {}).get("topics")
            out.append(MemberDescription(
                member_id=mid, group_instance_id=doc.get("group_instance_id"),
                client_id=str(doc.get("client_id")), host=str(doc.get("host")),
                pid=doc.get("pid") if type(doc.get("pid")) is int else -1,
                topics=topics if isinstance(topics, list) else list(doc.get("topics") or []),
                pattern=doc.get("pattern"), assignment=assign.get(mid, []),
                owned=[tp for tp, o in owners.items() if o == mid], last_poll_ms=last,
                joined_ms=doc.get("joined_ms") if type(doc.get("joined_ms")) is int else 0,
                is_leader=(mid == leader)))
        return out

    def check_member(self, member_id, generation):
        """KIP-447's check of offsets a transaction commits for this group on behalf of
        `member_id` at `generation` (from a consumer's `group_metadata()`): CommitFailedError
        unless that member is live and the group is at that generation (a zombie: a member
        that left, or one of an older generation whose partitions may be another's now).
        A `member_id` of "" with generation -1 (no member: assign() or a bare group id) is
        not checked, as Kafka skips the check for it."""
        if member_id == "" and generation < 0:
            return
        if member_id not in self._live():
            raise CommitFailedError(
                f"offsets for group {self.group_id!r} refused: member {member_id!r} is not in the group "
                f"(it left or was removed; Kafka's UNKNOWN_MEMBER_ID); abort the transaction")
        current = self.generation
        if generation != current:
            raise CommitFailedError(
                f"offsets for group {self.group_id!r} refused: member {member_id!r} is at generation "
                f"{generation} but the group is at generation {current} (a rebalance may have given its "
                f"partitions to another member; Kafka's ILLEGAL_GENERATION); abort the transaction")

    def is_empty(self):
        """True if no live member is running (static members that are gone do not count)."""
        return not self._live()

    def committed(self):
        """{TopicPartition: committed offset} of every partition the group committed."""
        return self._store.all_committed(self.group_id)

    def lag(self):
        """{TopicPartition: end offset - committed offset} for every committed partition."""
        out = {}
        for tp, off in self.committed().items():
            try:
                end = self._log.topic(tp.topic).partition(tp.partition).end_offset
            except UnknownTopicError:
                continue
            out[tp] = max(0, end - off)
        return out

    # -- operations that need an empty group ----------------------------------------------------

    def _exclusive(self, create):
        """LOCK_EX on group.lock, or GroupNotEmptyError naming the live members."""
        path = self._paths.group_lock
        if not create and not os.path.exists(path):
            return None
        os.makedirs(self._paths.dir, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            if not gf.try_lock(fd):
                os.close(fd)
                live = self._live()
                names = ", ".join(f"{m} (pid {d.get('pid')} on {d.get('host')})"
                                  for m, (_s, d) in sorted(live.items())) or "a member that is joining"
                raise GroupNotEmptyError(
                    f"group {self.group_id!r} has live members: {names}; stop them (close their "
                    f"consumers) before resetting offsets or deleting the group")
            if gf.lock_fresh(fd, path):
                return fd
            os.close(fd)

    def reset_offsets(self, to, topics=None):
        """Set the committed offsets while no member runs. `to`: "earliest", "latest", a
        timestamp in ms (the first offset at or after it; the end if none), or a dict
        {TopicPartition: offset}. With a string or timestamp, `topics` (names) chooses the
        topics, all of whose partitions are reset; default: the topics the group has committed
        offsets for. Returns {TopicPartition: new offset}. GroupNotEmptyError if members run."""
        ids = {}    # topic -> id of the incarnation the new offsets were computed from
        if isinstance(to, dict):
            plan = {TopicPartition(*tp): o for tp, o in to.items()}
            for tp, o in plan.items():
                if type(o) is not int or o < 0:
                    raise InvalidArgumentError(f"reset_offsets: offset for {tp} must be an int >= 0, got {o!r}")
                topic = self._log.topic(tp.topic)
                topic.partition(tp.partition)
                ids[tp.topic] = topic.topic_id
        else:
            if not (to in ("earliest", "latest") or (type(to) is int and to >= 0)):
                raise InvalidArgumentError(
                    f"reset_offsets(to=...) takes 'earliest', 'latest', a timestamp in ms or a dict "
                    f"{{TopicPartition: offset}}; got {to!r}")
            if topics is None:
                names = sorted({tp.topic for tp in self.committed()})
                if not names:
                    raise InvalidArgumentError(
                        f"group {self.group_id!r} has no committed offsets; name the topics: "
                        f"reset_offsets({to!r}, topics=[...])")
            else:
                names = [topics] if isinstance(topics, str) else list(topics)
            plan = {}
            for name in names:
                topic = self._log.topic(name)
                ids[name] = topic.topic_id
                for part in topic.partitions:
                    tp = TopicPartition(name, part.partition)
                    if to == "earliest":
                        plan[tp] = part.start_offset
                    elif to == "latest":
                        plan[tp] = part.end_offset
                    else:
                        off = part.offset_for_time(to)
                        plan[tp] = part.end_offset if off is None else off
        self._store.ensure_group_dir(self.group_id)
        fd = self._exclusive(create=True)
        try:
            for tp, off in sorted(plan.items()):
                self._store.commit_partition(self.group_id, tp, off,
                                             json.dumps({"reset": True}, separators=(",", ":")),
                                             topic_id=ids[tp.topic])
            self._store.remove_other_incarnations(self.group_id)
        finally:
            os.close(fd)
        return dict(sorted(plan.items()))

    def delete_offsets(self, topics):
        """Delete the group's committed offsets of `topics` (a topic name or a list of them;
        the topics need not exist any more), as Kafka's `kafka-consumer-groups
        --delete-offsets`. Offsets left behind by deleted incarnations of any topic are
        removed too. Returns {TopicPartition: offset} of the offsets deleted (of the live
        incarnations). GroupNotEmptyError while members run: a member could commit them
        again at once."""
        names = [topics] if isinstance(topics, str) else list(topics)
        for name in names:
            validate_topic_name(name)
        if not os.path.isdir(self._paths.dir):
            return {}
        fd = self._exclusive(create=True)
        try:
            gone = {tp: off for tp, off in self._store.all_committed(self.group_id).items()
                    if tp.topic in names}
            self._store.remove_other_incarnations(self.group_id)
            self._store.delete_offsets(self.group_id, [
                tp for tp in self._store.stored_entries(self.group_id) if tp.topic in names])
        finally:
            os.close(fd)
        return gone

    def delete(self):
        """Delete the group: its committed offsets and every group file. GroupNotEmptyError
        if members run. No error if the group does not exist."""
        p = self._paths
        if not os.path.isdir(p.dir):
            return
        fd = self._exclusive(create=True)
        try:
            self._store.delete_group(self.group_id)
            for d in (p.members, p.wake, p.owners):
                shutil.rmtree(d, ignore_errors=True)
            for f in (p.assignment, p.leader_lock):
                try:
                    os.unlink(f)
                except FileNotFoundError:
                    pass
            gf.remove_stale_temps(p.dir, max_age_s=0)
            os.unlink(p.group_lock)       # while held: a joiner waiting on it starts afresh
        finally:
            os.close(fd)
        # Only group.json left (unless someone joined meanwhile): remove it and the directory.
        try:
            names = os.listdir(p.dir)
        except FileNotFoundError:
            return
        if names == ["group.json"]:
            try:
                os.unlink(os.path.join(p.dir, "group.json"))
            except FileNotFoundError:
                pass
            gf.rmdir_quiet(p.dir)


def list_groups(root, store):
    """Ids of the groups that have committed offsets, members or an assignment, sorted
    (`root`: the log's directory; `store`: its offset store)."""
    root = os.path.join(root, "groups")
    found = set(store.groups())
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return sorted(found)
    for name in names:
        gdir = os.path.join(root, name)
        if not name.startswith(("g_", "h_")):
            continue
        has = os.path.exists(os.path.join(gdir, gf.ASSIGNMENT))
        if not has:
            try:
                has = any(n.endswith(".json") for n in os.listdir(os.path.join(gdir, gf.MEMBERS)))
            except FileNotFoundError:
                has = False
        if has:
            g = gf.group_id_of_dir(gdir, name)
            if g is not None:
                found.add(g)
    return sorted(found)
