"""The referral's rules, apart from how they are stored or sent: the lifecycle (its statuses and
which fact may follow which, `lifecycle.py`) and when the consult report is due (`deadlines.py`).

The Referral aggregate that applies the lifecycle stays in `referral_loop/store/referral.py` for
now: the event store keeps each event's topic (`module:Class.Event`), so moving the class would
leave every existing store's events without a class to read them."""
