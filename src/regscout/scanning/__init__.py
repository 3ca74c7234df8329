"""Scan jobs: the durable queue in the database, workers with leases, executors, syncs and the scheduler."""
