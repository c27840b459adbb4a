"""Web sign-in, sessions and audit, shared by intake and the ops app: users and passwords, OIDC,
API credentials, sessions and sign-in limits in the side tables, the guard that wires them into an
app, the security headers and limits every answer carries, uvicorn's configuration, and the audit
log (hash-chained, group-committed) with the operator's identity for ops commands."""
