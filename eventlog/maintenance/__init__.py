"""Retention and compaction over storage. Imports storage and below."""
