"""kafka.consumer.fetcher: ConsumerRecord (the fetching itself is eventlog's consumer)."""
from ..structs import ConsumerRecord

__all__ = ["ConsumerRecord"]
