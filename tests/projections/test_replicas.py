"""Two projections replicas: both serve the views, one projects into them; kill -9 it, and facts
recorded afterwards are projected by the other, each referral counted once."""

from __future__ import annotations

from uuid import uuid4

from launcher.natsd import free_port
from referral_loop.settings import Settings
from services.projections.db import Database
from tests.ops.support import get, metric, seed
from tests.projections.test_rebuild_and_crash import seed_store
from tests.support import referrals as make
from tests.support.processes import ProcessRegistry, ServiceProcess, wait_until

BEFORE, AFTER = 300, 200


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
    seed_store(store_settings, BEFORE)
    ports = [free_port(), free_port()]
    replicas = {
        p: services.start("projections", store_settings.model_copy(update={"ops_port": p})) for p in ports
    }
    db = Database(store_settings)
    try:
        wait_until(lambda: all(get(p, "/healthz")[0] == 200 for p in ports), timeout=60, what="both serving")
        wait_until(
            lambda: len(leading(replicas)) == 1 and counted(db) == BEFORE, timeout=60, what="one projecting"
        )
        (port,) = leading(replicas)
        replicas[port].kill()
        (standby,) = (p for p in ports if p != port)
        wait_until(lambda: leading(replicas) == [standby], timeout=30, what="the standby leads")
        first = db.query("SELECT position FROM view_position")[0][0] + 1
        seed(store_settings, [make.received(uuid4()) for _ in range(AFTER)], first_position=first)
        total = BEFORE + AFTER
        wait_until(lambda: counted(db) == total, timeout=60, what=f"all counted (now {counted(db)})")
        assert db.query("SELECT COUNT(*) FROM referral_view")[0][0] == total
    finally:
        db.close()
