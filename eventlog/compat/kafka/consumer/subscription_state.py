"""kafka.consumer.subscription_state: ConsumerRebalanceListener."""
from __future__ import annotations

class ConsumerRebalanceListener:
    """Override on_partitions_revoked / on_partitions_assigned (and on_partitions_lost)."""

    def on_partitions_revoked(self, revoked):
        pass

    def on_partitions_assigned(self, assigned):
        pass

    def on_partitions_lost(self, lost):
        return self.on_partitions_revoked(lost)


AsyncConsumerRebalanceListener = ConsumerRebalanceListener
