"""The one home of the referral event schemas and the bus layout. Every service depends on it."""

from contracts.envelope import Actor, ActorKind, Fact
from contracts.events import FACT_TYPES, AnyFact, fact_from_dict, parse_fact

__all__ = ["FACT_TYPES", "Actor", "ActorKind", "AnyFact", "Fact", "fact_from_dict", "parse_fact"]
