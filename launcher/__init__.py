"""What starts and administers Referral Loop: the `referral-loop` command, `make run`'s supervisor,
the embedded nats-server and mail sink. It sits above the services: nothing under `services/` or
`referral_loop/` imports it."""
