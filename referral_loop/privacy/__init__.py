"""Forgetting a patient by crypto-shredding: `referral-loop forget-patient` destroys their data
key, leaves no old copy of it in the store's files, announces PatientForgotten and erases their
facts from the JetStream streams, and audits what it did.

The keys it destroys, and the sealing of PHI under them, are the event store's own
(`referral_loop/store/patient_keys.py`, `patient_phi.py`, `key_wrap.py`, `opening.py`), as is the
store key (`referral_loop/keys.py`): the store reads and writes them, and this package uses the
store, so they stay with it rather than import each other in a circle."""
