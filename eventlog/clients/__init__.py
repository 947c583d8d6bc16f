"""Producer, consumer, partitioners and serde. Imports offsets, storage and below."""
