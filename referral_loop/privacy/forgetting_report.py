"""What forget-patient did, for the operator and the audit log: referral ids and counts, no PHI."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from contracts import bus
from referral_loop.privacy.forgetting_bus import BusErasure
from referral_loop.privacy.key_residue import Residue
from referral_loop.web.audit import AuditEvent, Outcome
from referral_loop.web.operator import ROLE


@dataclass(frozen=True)
class Report:
    requested_on: UUID
    already: bool
    """The key had been destroyed by an earlier run: the patient was already forgotten."""
    referrals: list[UUID]
    recorded: int
    """How many of the referrals' PatientForgotten facts the store holds."""
    residue: Residue
    bus: BusErasure

    @property
    def problems(self) -> list[str]:
        missing = len(self.referrals) - self.recorded
        unrecorded = [f"{missing} PatientForgotten facts not in the store yet"] if missing else []
        unclear = [] if self.residue.cleared else [self.residue.what]
        keyless = [] if self.referrals else ["no key found for the referral"]
        return [*keyless, *unrecorded, *self.bus.problems, *unclear]

    @property
    def complete(self) -> bool:
        return not self.problems

    def key_line(self) -> str:
        if self.already:
            return "already forgotten (the patient's key was destroyed before)"
        return "the patient's key destroyed"

    def erased_line(self) -> str:
        counts = ", ".join(
            f"{self.bus.erased.get(s, 0)} from {s}" for s in (bus.STREAM, bus.DEADLETTER_STREAM)
        )
        return f"messages erased from NATS: {counts} ({self.bus.scanned:,} scanned)"

    def text(self) -> str:
        lines = [
            f"forget-patient: referral {self.requested_on}: {self.key_line()}",
            f"  their referrals ({len(self.referrals)}): {', '.join(map(str, self.referrals))}",
            f"  PatientForgotten in the store: {self.recorded} of {len(self.referrals)}",
            f"  {self.erased_line()}",
            f"  store files: {self.residue.what}",
        ]
        if self.problems:
            lines.append(f"  INCOMPLETE: {'; '.join(self.problems)}. Run the command again.")
        return "\n".join(lines)

    def entry(self, who: str) -> AuditEvent:
        """The audit log's entry: `erase` on `patient`, every referral of theirs."""
        erased = sum(self.bus.erased.values())
        detail = f"{self.key_line()}; {self.recorded} PatientForgotten recorded; {erased} messages erased"
        if self.problems:
            detail += f"; incomplete: {'; '.join(self.problems)}"
        outcome: Outcome = "failed" if self.problems else "allowed"
        return AuditEvent(who, ROLE, "erase", "patient", outcome, tuple(map(str, self.referrals)), detail)
