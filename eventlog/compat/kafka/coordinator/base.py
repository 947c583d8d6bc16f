"""kafka.coordinator.base: the membership names code written for kafka-python reads
(MemberState, Generation); eventlog's group layer does the coordinating."""
import collections

from eventlog.compat.kafka.structs import MemberState

DEFAULT_GENERATION_ID = -1
UNKNOWN_MEMBER_ID = ""

Generation = collections.namedtuple("Generation", ["generation_id", "member_id", "protocol"])
Generation.NO_GENERATION = Generation(DEFAULT_GENERATION_ID, UNKNOWN_MEMBER_ID, None)


class UnjoinedGroupException(Exception):
    retriable = True


__all__ = ["MemberState", "Generation", "UnjoinedGroupException", "DEFAULT_GENERATION_ID", "UNKNOWN_MEMBER_ID"]
