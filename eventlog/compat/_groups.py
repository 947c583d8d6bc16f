"""Consumer-group facts both admin facades report as a broker does: a group's state name,
its protocol type, and whether a committed offset's metadata is eventlog's own fencing data.
Read-only: nothing here changes a group."""
from __future__ import annotations

import json

_GROUP_META_KEYS = {"member_id", "generation", "reset"}


def group_state(log, group_id):
    """Kafka's name for a group's state: Dead (unknown), Empty, PreparingRebalance, Stable."""
    g = log.group(group_id)
    members = g.members()
    if not members:
        return "Empty" if group_id in log.groups() else "Dead"
    assigned = {m.member_id: set(m.assignment) for m in members}
    owned = {m.member_id: set(m.owned) for m in members}
    if any(assigned[m] != owned[m] for m in assigned) or set(g.assignment()) != set(assigned):
        return "PreparingRebalance"
    return "Stable"


def group_protocol_type(log, group_id):
    """The group's protocol type as a broker reports it: "consumer" for a group that has run
    the consumer protocol (members now, or an assignor of a past generation), "" for an unknown
    group or one that only has offsets committed by assign()-mode consumers (a "simple" group)."""
    g = log.group(group_id)
    return "consumer" if g.members() or g.assignor else ""


def is_group_metadata(text):
    """True if a committed offset's metadata was written by eventlog's group layer (member id
    and generation of a fenced commit, or an admin reset) rather than by the application."""
    if not isinstance(text, str) or not text.startswith("{"):
        return False
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    return isinstance(doc, dict) and bool(doc) and set(doc) <= _GROUP_META_KEYS


def application_metadata(text):
    """A committed offset's metadata as the application committed it: the text, or None for
    null metadata and for eventlog's own (`is_group_metadata`). kafka-python reads None as
    "" (as it decodes a broker's answer), confluent-kafka keeps None apart from ""."""
    return None if is_group_metadata(text) else text
