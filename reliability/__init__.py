"""Reliability: what a client did (history), what the system holds (truth), the checker that
compares them, a stack whose processes can be killed, and the soak that drives it all."""
