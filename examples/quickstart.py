"""Quickstart: create a topic, produce records, consume them back, commit, resume.

Run:  python examples/quickstart.py [log directory]   (default: a fresh temporary directory)
"""
import sys
import tempfile

import eventlog
from eventlog import TopicPartition
from eventlog.clients.serde import json_deserializer, json_serializer

path = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="eventlog-quickstart-")

with eventlog.open(path) as log:
    if "orders" not in log.topics():
        log.create_topic("orders", partitions=3)

    # Produce: one line per record; batching happens behind the scenes.
    with log.producer(value_serializer=json_serializer) as producer:
        futures = [producer.send("orders", key=f"user-{i % 5}".encode(), value={"order": i, "amount": 10 * i})
                   for i in range(20)]
        producer.flush()
        meta = futures[0].result()
        print(f"first record went to partition {meta.partition} at offset {meta.offset}")

    # Consume from the beginning as group "billing", then commit what was processed.
    with log.consumer(group_id="billing", auto_offset_reset="earliest", enable_auto_commit=False,
                      value_deserializer=json_deserializer) as consumer:
        consumer.assign([TopicPartition("orders", p) for p in range(3)])
        total = 0
        while True:
            records = consumer.poll(timeout=0.5)
            if not records:
                break
            for r in records:
                total += r.value["amount"]
            consumer.commit()
        print(f"read all orders, total amount {total}")
        for p in range(3):
            tp = TopicPartition("orders", p)
            print(f"  {tp.topic}[{tp.partition}]: committed {consumer.committed(tp)} of end {consumer.end_offsets([tp])[tp]}")

    # A new consumer in the same group resumes where the group committed: nothing is left.
    with log.consumer(group_id="billing", value_deserializer=json_deserializer) as consumer:
        consumer.assign([TopicPartition("orders", p) for p in range(3)])
        print(f"records left for group billing: {len(consumer.poll(timeout=0.2))}")

print(f"log directory: {path}")
