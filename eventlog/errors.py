"""The exception hierarchy of eventlog.

Every error the library raises on purpose is an `EventLogError` subclass, so callers can
catch the whole family with one clause. Messages name the bad value and say what is allowed
or what to do next. Classes that correspond to a Kafka error keep Kafka's name.
"""


class EventLogError(Exception):
    """Base class of every error raised by eventlog."""


class InvalidArgumentError(EventLogError, ValueError):
    """An argument has a value that is not allowed (the message names it and what is)."""


class InvalidTypeError(EventLogError, TypeError):
    """An argument has the wrong type (for example `str` where `bytes` is needed)."""


class InvalidTopicError(InvalidArgumentError):
    """A topic name breaks Kafka's rules: 1-249 characters of [A-Za-z0-9._-], not '.' or '..'."""


class UnknownTopicError(EventLogError, KeyError):
    """The topic (or partition) does not exist in this log."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownPartitionError(UnknownTopicError):
    """The topic exists but has no such partition."""


class TopicExistsError(EventLogError):
    """A topic of that name already exists."""


class RecordTooLargeError(InvalidArgumentError):
    """A record is larger than the topic's `max_record_bytes`."""


class CorruptBatchError(EventLogError):
    """Bytes that were expected to hold a record batch do not (bad magic, length or CRC)."""


class CorruptLogError(EventLogError):
    """A closed part of a log file is damaged; the message names the file and position."""


class LogClosedError(EventLogError):
    """The Log (or an object taken from it) was used after `close()`."""


class ForkedProcessError(EventLogError):
    """An object holding file locks was used in a child created by fork(); open the log anew there."""


class OffsetOutOfRangeError(EventLogError):
    """A fetch position is outside the partition's [start offset, end offset] range."""


class ProducerClosedError(EventLogError):
    """`send` was called after the producer was closed."""


class BufferFullError(EventLogError):
    """The producer's buffer stayed full for longer than `max_block_ms`."""


class KafkaTimeoutError(EventLogError, TimeoutError):
    """An operation did not complete within its timeout."""


class ConsumerClosedError(EventLogError):
    """The consumer was used after `close()`."""


class IllegalStateError(EventLogError):
    """The call is not allowed in the object's current state (the message says why)."""


class NoOffsetForPartitionError(OffsetOutOfRangeError):
    """No committed offset and `auto_offset_reset="error"`."""


class CommitFailedError(EventLogError):
    """The commit was refused: this member no longer owns the partition (or has no group)."""


class RebalanceInProgressError(EventLogError):
    """The group is rebalancing; retry after the next poll."""


class GroupNotEmptyError(EventLogError):
    """The group still has live members, so it cannot be reset or deleted."""


class SerializationError(EventLogError):
    """A key or value serializer (or deserializer) failed; the cause is chained."""


class UnsupportedOperationError(EventLogError):
    """The call or option has no meaning on this back end (for example `fsync=` or
    `log.maintain()` on a Kafka cluster); the message names the setting that replaces it."""


class BackendError(EventLogError):
    """A back end (a Kafka cluster) reported an error no closer eventlog class matches; the
    message carries the back end's error name (and `kafka_error` the original)."""


class NotALogDirectoryError(EventLogError):
    """`eventlog.open` was given a path that is not an eventlog directory and cannot become
    one: a file, or a directory that is not empty and has no `eventlog.json` (only a missing
    or empty directory is made into a log)."""


# -- the operating system refused a file operation ------------------------------------------------
# Each is also an OSError (with `errno` and `filename`), so `except OSError` keeps working.


class StorageError(EventLogError, OSError):
    """The operating system refused a file operation of the log. `operation` says what eventlog
    was doing, `filename` (and `path`) the file or directory, `errno` the OS error number; the
    message says what to do."""

    def __str__(self):  # OSError would print "[Errno N] ..."
        return str(self.args[0]) if self.args else ""


class StoragePermissionError(StorageError, PermissionError):
    """Permission denied (EACCES, EPERM) on a file or directory of the log."""


class ReadOnlyStorageError(StorageError):
    """The log is on a read-only file system (EROFS)."""


class DiskFullError(StorageError):
    """No space left on the log's file system, or the user's quota is used up (ENOSPC, EDQUOT)."""


class TooManyOpenFilesError(StorageError):
    """The process (EMFILE) or the system (ENFILE) has run out of file descriptors."""


class ProducerFencedError(EventLogError):
    """A newer producer with the same `transactional_id` called `init_transactions` (or the
    transaction timed out and was aborted, which fences too): this producer can no longer
    send or commit. Fatal for the producer, as in Kafka: close it and make a new one."""


class TransactionAbortedError(EventLogError):
    """The transaction a record was sent in was aborted, so the record was never written
    (the future of a record buffered when `abort_transaction` was called)."""
