"""kafka.consumer.fetcher: ConsumerRecord (the fetching itself is eventlog's consumer)."""
from eventlog.compat.kafka.structs import ConsumerRecord

__all__ = ["ConsumerRecord"]
