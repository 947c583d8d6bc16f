"""Committed-offset values, the `OffsetStore` protocol, and the validation every store
applies before writing anything (see the package docstring, `eventlog.offsets`, for the rules)."""
from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Mapping
from typing import Callable, Protocol, runtime_checkable

import attrs

from eventlog.storage.topic import NO_TOPIC_ID
from eventlog.storage.names import TOPIC_NAME_RULE, is_valid_topic_name
from eventlog.errors import InvalidArgumentError, InvalidTopicError, InvalidTypeError
from eventlog.record import TopicPartition


MAX_OFFSET = 2**63 - 1          # Kafka offsets are int64
MAX_PARTITION = 2**31 - 1       # Kafka partition numbers are int32

PARTITION_FILE_RE = re.compile(r"(0|[1-9][0-9]{0,9})\.json")
SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
PLAIN_PREFIX = "g_"
HASHED_PREFIX = "h_"
MAX_PLAIN_LENGTH = 200         # of the escaped id; a file name may have 255 bytes
GROUP_FILE = "group.json"
OFFSETS_DIR = "offsets"
TOMBSTONE_PREFIX = "offsets.deleted."
GROUP_FILE_FORMAT = 1
WRITE_ATTEMPTS = 8


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


def check_group(group) -> str:
    if not isinstance(group, str):
        raise InvalidTypeError(
            f"group id must be a str (any string is allowed), got {type(group).__name__}: "
            f"{short_repr(group)}")
    return group


def check_tp(tp) -> TopicPartition:
    if type(tp) is not TopicPartition:
        if not isinstance(tp, tuple) or len(tp) != 2:
            raise InvalidArgumentError(
                f"expected a TopicPartition(topic, partition) or a (topic, partition) tuple, "
                f"got {short_repr(tp)}")
    topic, partition = tp
    if not is_valid_topic_name(topic):
        raise InvalidTopicError(
            f"invalid topic name {short_repr(topic)} in {short_repr(tp)}: topic names are "
            f"{TOPIC_NAME_RULE}")
    if (not isinstance(partition, int) or isinstance(partition, bool)
            or not 0 <= partition <= MAX_PARTITION):
        raise InvalidArgumentError(
            f"invalid partition {short_repr(partition)} in {short_repr(tp)}: partitions are "
            f"ints from 0 to {MAX_PARTITION}")
    return tp if type(tp) is TopicPartition else TopicPartition(topic, partition)


def check_offset(offset, tp) -> int:
    if (not isinstance(offset, int) or isinstance(offset, bool)
            or not 0 <= offset <= MAX_OFFSET):
        raise InvalidArgumentError(
            f"invalid offset {short_repr(offset)} for {tp}: a committed offset is the int "
            f"offset of the next record to read, from 0 to {MAX_OFFSET}")
    return int(offset)


def check_metadata(metadata, tp) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, str):
        raise InvalidTypeError(
            f"commit metadata for {tp} must be a str or None, got "
            f"{type(metadata).__name__}: {short_repr(metadata)}")
    return metadata


def check_tps(tps) -> list[TopicPartition]:
    if isinstance(tps, TopicPartition) or isinstance(tps, (str, bytes)):
        raise InvalidTypeError(
            f"expected an iterable of TopicPartitions, got {short_repr(tps)}; "
            f"wrap a single one in a list: [tp]")
    try:
        items = list(tps)
    except TypeError:
        raise InvalidTypeError(
            f"expected an iterable of TopicPartitions, got {short_repr(tps)}") from None
    return [check_tp(tp) for tp in items]


def check_committer(committer) -> Committer | None:
    if committer is None or isinstance(committer, Committer):
        return committer
    raise InvalidTypeError(f"committer must be a Committer or None, got {short_repr(committer)}")


def normalize_commit(offsets, metadata) -> list[tuple[TopicPartition, int, str | None]]:
    """Validate a whole commit before any of it is written."""
    if not isinstance(offsets, Mapping):
        raise InvalidTypeError(
            f"offsets must be a mapping of TopicPartition -> offset, got "
            f"{type(offsets).__name__}: {short_repr(offsets)}")
    extra: dict[TopicPartition, str | None] = {}
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise InvalidTypeError(
                f"metadata must be a mapping of TopicPartition -> str or None, got "
                f"{type(metadata).__name__}: {short_repr(metadata)}")
        for tp, text in metadata.items():
            tp = check_tp(tp)
            extra[tp] = check_metadata(text, tp)
    entries = []
    for tp, offset in offsets.items():
        tp = check_tp(tp)
        entries.append((tp, check_offset(offset, tp), extra.pop(tp, "")))
    if extra:
        raise InvalidArgumentError(
            f"metadata given for partitions that are not being committed: "
            f"{short_repr(sorted(extra))}; give each of them an offset too")
    return entries


def check_topic_ids(topic_ids) -> dict[str, str]:
    if topic_ids is None:
        return {}
    if not isinstance(topic_ids, Mapping):
        raise InvalidTypeError(
            f"topic_ids must be a mapping of topic name -> topic id, got "
            f"{type(topic_ids).__name__}: {short_repr(topic_ids)}")
    for name, tid in topic_ids.items():
        if not isinstance(name, str) or not isinstance(tid, str) or not tid:
            raise InvalidTypeError(
                f"topic_ids must map topic names (str) to topic ids (non-empty str), got "
                f"{short_repr(name)}: {short_repr(tid)}")
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


def short_repr(value, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def now_ms(clock: Callable[[], float]) -> int:
    return int(clock() * 1000)
