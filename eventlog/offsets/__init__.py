"""Committed consumer-group offsets: the `OffsetStore` interface and its two implementations.

Modules: `model` (values, the protocol, validation), `names` (group id <-> directory name),
`memory` (`MemoryOffsetStore`), `file_store` (`FileOffsetStore`), `check`
(`check_committed_offsets`). The Log builds one `FileOffsetStore` (`log.offset_store`) that
every consumer, group and admin call shares.

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

from eventlog.storage.topic import NO_TOPIC_ID
from eventlog.offsets.model import Committer, MAX_OFFSET, MAX_PARTITION, OffsetAndMetadata, OffsetStore, accepts_committer, accepts_topic_ids
from eventlog.offsets.names import decode_group_dir, encode_group_id
from eventlog.offsets.memory import MemoryOffsetStore
from eventlog.offsets.file_store import FileOffsetStore
from eventlog.offsets.check import OffsetProblem, check_committed_offsets

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
    "accepts_committer",
    "check_committed_offsets",
]
