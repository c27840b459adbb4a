"""Operability shared by every service: readiness checks, metrics, the ops HTTP endpoints, logs."""
