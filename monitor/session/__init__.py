"""A monitored session as it is recorded: the session record, the store, the hub that runs its sources,
starting, resuming and locking a session, and whether a stored session is live."""
