"""The group layer: consumer groups among local processes, coordinated only through files
and flocks in the log directory (no broker, no heartbeats).

Modules: `membership` (one consumer's life in its group, with its state table), `seat` (the
member's files and locks), `ownership` (the partition locks both of a member's threads
share), `leader` (the leader's scan and publishing), `rebalance` (the consumer thread's part
of a rebalance, the listener), `assignors`, `subscription`, `files` (the group directory's
layout and lock primitives) and `admin` (`ConsumerGroup`, `list_groups`). The layer sits
above the clients: it drives a `Consumer` only through the `AssignmentControl` the consumer
hands to the coordinator factory the Log gave it; nothing below imports it.

How it works
- Liveness: a member holds LOCK_EX on `members/<stem>.lock` for its lifetime. The kernel
  drops a dead process's flocks at once, and closing a descriptor opened for writing is an
  inotify IN_CLOSE_WRITE event, so the leader (which watches `members/`) learns of a death
  within milliseconds, then proves it with LOCK_NB before acting. No heartbeats.
- Leadership: every member keeps `leader.lock` open and tries LOCK_NB whenever the group
  directory changes (the leader's death is an IN_CLOSE_WRITE there) and at least every
  0.25 s; the first to get it leads until it leaves or dies. Only the leader writes
  `assignment.json`, and only while holding the lock, so there is one writer at a time.
- Assignment: the leader scans members and topic metadata (on changes in `members/`,
  `topics/`, the subscribed topics' directories, and every 0.25 s), and publishes a new
  generation when the members, a member's (resolved) subscription, a subscribed topic's
  partition count, or the chosen assignor changed. The assignor is the first of the
  leader's `partition_assignment_strategy` list that every member lists (else the leader's
  first); its protocol ("eager" | "cooperative") is recorded with the generation.
- Ownership: a member consumes a partition only while it holds `owners/<t>/<p>.lock`.
  A member's background thread acquires the locks of its assigned partitions with LOCK_NB
  (retrying on inotify events in `owners/<t>/` and on a short backoff), and hands them to
  the consumer thread, which takes them into the consumer's assignment inside `poll`. A
  partition leaves the consumer's assignment (after `on_partitions_revoked`, and after an
  auto-commit when enabled) before its lock is released: at no instant do two live members
  consume it. Eager protocol: at every new generation the consumer revokes all its
  partitions, then takes its new ones. Cooperative (KIP-429): only partitions that move
  away are revoked; the rest are consumed straight through the rebalance. The new owner
  does not wait for a second rebalance: it waits for the old owner's lock.
- Fencing: `commit` writes each partition's offset while holding its ownership lock (under
  the membership's mutex, so the background thread cannot release it meanwhile), with the
  member id and generation in the offset metadata. A member that does not hold the lock
  gets `CommitFailedError` and nothing is written. Nobody takes a lock from a live holder
  (flock cannot be stolen), so a stale member can never move a committed offset.
- Stuck members: a member whose consumer has not called `poll` for `max_poll_interval_ms`
  leaves the group on its own (its background thread releases every lock and, for a
  dynamic member, deletes its files). Its commits then fail; its next `poll` calls
  `on_partitions_lost` and joins again (as a new member, or the same static one).
- Static membership: the member id is the `group_instance_id`; its files survive `close`
  and death. The leader keeps a departed static member in the group, with its partitions
  unassigned to anyone else, for its `session_timeout_ms` (counted from when this leader
  first saw it gone); if it comes back within that time it takes its partitions back with
  no new generation, so the others see nothing. Two live members with one instance id are
  refused (`IllegalStateError` at `subscribe`): a flock cannot fence the older one.
- Waking the consumer: the background thread sets a flag and writes a byte to
  `wake/<stem>/w`, a directory the consumer's own DirWatcher watches, so a `poll` that
  sleeps for records wakes at once to take its new partitions or revoke old ones.
- Callbacks (`on_partitions_revoked/assigned/lost`) run inside `poll` (or `close`) on the
  thread calling it, as Kafka's ConsumerRebalanceListener. `on_partitions_assigned` gets
  partitions as their locks are acquired (so possibly in several calls per generation,
  never with an empty list). A listener without `on_partitions_lost` gets
  `on_partitions_revoked` instead (as Kafka's default). An exception from a callback is
  raised from `poll` after the rebalance step it belongs to is complete.

Limits (stated, not hidden): a process that is alive but frozen (SIGSTOP, a debugger) keeps
its locks, so its partitions do not move and, if it leads, no rebalance happens, until it
runs again or dies; `max_poll_interval_ms` is enforced by the member's own thread, so it needs
the process to run. `session_timeout_ms` matters only for static members. Processes must
share one kernel (one machine, a local file system).
"""
