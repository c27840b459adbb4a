"""NATS for every service: connecting and declaring the streams and the store writer's consumer
(`bus.py`), publishing facts and waiting for JetStream's acknowledgement (`publisher.py`), and
each service user's nkey and permissions (`nats_auth.py`)."""
