"""Transactions (KIP-98's model over a log directory): the coordinator (producer ids,
epochs, fencing, the commit protocol and its recovery) and read_committed reading. The
transactional producer that drives them is `eventlog.clients.transactional`.
See docs/transactions.md."""
