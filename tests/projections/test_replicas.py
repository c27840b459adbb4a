"""Two projections replicas: both serve the views, one projects into them; kill -9 it mid
catch-up and the other takes over: every referral counted once."""

from __future__ import annotations

from referral_loop.natsd import free_port
from referral_loop.settings import Settings
from services.projections.db import Database
from tests.ops.support import get, metric
from tests.projections.test_rebuild_and_crash import seed_store
from tests.support.processes import ProcessRegistry, ServiceProcess, wait_until

REFERRALS = 2000


def counted(db: Database) -> int:
    try:
        return int(
            db.query("SELECT COALESCE(SUM(count), 0) FROM volume_monthly WHERE dimension = 'total'")[0][0]
        )
    except Exception:
        return 0


def leading(replicas: dict[int, ServiceProcess]) -> list[int]:
    return [port for port in replicas if metric(port, "referral_loop_leading") == 1.0]


def test_a_standby_projector_takes_over_and_counts_everything_once(
    store_settings: Settings, services: ProcessRegistry
) -> None:
    seed_store(store_settings, REFERRALS)
    ports = [free_port(), free_port()]
    replicas = {
        p: services.start("projections", store_settings.model_copy(update={"ops_port": p})) for p in ports
    }
    db = Database(store_settings)
    try:
        wait_until(lambda: all(get(p, "/healthz")[0] == 200 for p in ports), timeout=60, what="both serving")
        wait_until(lambda: len(leading(replicas)) == 1 and counted(db) > 0, timeout=60, what="one projecting")
        (port,) = leading(replicas)
        replicas[port].kill()
        assert counted(db) < REFERRALS, "catch-up finished before the kill"
        (standby,) = (p for p in ports if p != port)
        wait_until(lambda: leading(replicas) == [standby], timeout=30, what="the standby leads")
        wait_until(lambda: counted(db) == REFERRALS, timeout=120, what=f"all counted (now {counted(db)})")
        assert db.query("SELECT COUNT(*) FROM referral_view")[0][0] == REFERRALS
    finally:
        db.close()
