"""Test support: real servers (nats-server, embedded PostgreSQL) and service processes."""
