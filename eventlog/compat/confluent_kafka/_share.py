"""Share consumers (KIP-932 queues): the names exist; eventlog has no share groups, so creating
one fails as against a broker without share-group support (UNSUPPORTED_VERSION)."""
from __future__ import annotations

from eventlog.compat.confluent_kafka._types import KafkaError, KafkaException


class Messages:
    """A batch of messages (what ShareConsumer.poll returns): a read-only sequence."""

    def __init__(self, messages=()):
        self._records = list(messages)

    def __len__(self):
        return len(self._records)

    def __iter__(self):
        return iter(self._records)

    def __getitem__(self, i):
        return self._records[i]

    def count(self):
        return len(self._records)

    def is_empty(self):
        return not self._records

    def records(self):
        return list(self._records)


class ShareConsumer:
    """Not offered: eventlog has no share groups."""

    def __init__(self, *args, **kwargs):
        raise KafkaException(KafkaError(KafkaError.UNSUPPORTED_VERSION,
                                        "share groups (KIP-932) are not supported by eventlog"))


class DeserializingShareConsumer(ShareConsumer):
    """Not offered: eventlog has no share groups."""
