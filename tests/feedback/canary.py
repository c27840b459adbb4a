"""A canary patient for feedback, and a scan of every byte feedback's store keeps for it."""

from __future__ import annotations

from uuid import UUID, uuid4

import psycopg

from contracts.events import ConsultSummary, PatientSeen, ReferralReceived
from referral_loop.settings import Settings
from tests.support import referrals as make

TOKEN = uuid4().hex[:10]
CANARIES = [f"Qyxo{TOKEN}", f"Vumb{TOKEN}", f"angina{TOKEN}", f"echo{TOKEN}", "1933-05-17"]


def canary_received(rid: UUID) -> ReferralReceived:
    patient = {**make.referral_body()["patient"], "given_name": CANARIES[0], "family_name": CANARIES[1]}
    patient["birth_date"] = CANARIES[4]
    return make.received(rid, patient=patient, reason=f"Chest pain, {CANARIES[2]}.")


def canary_seen(rid: UUID) -> PatientSeen:
    summary = ConsultSummary(
        specialist="Dr. Byron", findings=CANARIES[3], assessment="a", plan="p", recommendations="r"
    )
    return PatientSeen.new(rid, summary, make.STAFF)


def traces_in_feedback(settings: Settings) -> set[str]:
    """The canaries anywhere in feedback's store."""
    return found_in_feedback(settings, CANARIES)


def found_in_feedback(settings: Settings, texts: list[str]) -> set[str]:
    """Those of `texts` in feedback's store: each byte of its SQLite files (WAL and journal
    included), or each row of its PostgreSQL tables as text (bytea as hex)."""
    if settings.store == "postgres":
        kept = _tables_as_text(settings)
        return {t for t in texts if t in kept or t.encode().hex() in kept}
    where = settings.feedback_sqlite_file
    files = [p for p in where.parent.glob(f"{where.name}*") if p.is_file()]
    assert files, f"no feedback store files at {where}"
    content = b"".join(p.read_bytes() for p in files)
    return {t for t in texts if t.encode() in content}


def _tables_as_text(settings: Settings) -> str:
    password = settings.postgres_password.get_secret_value()
    params = {"host": settings.postgres_host, "port": settings.postgres_port, "user": settings.postgres_user}
    with psycopg.connect(dbname=settings.postgres_dbname, password=password, **params) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_name LIKE 'feedback%'"
        ).fetchall()
        assert tables, "no feedback tables"
        rows = [r[0] for (t,) in tables for r in conn.execute(f'SELECT t::text FROM "{t}" t').fetchall()]
    return "\n".join(rows)
