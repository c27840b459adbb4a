"""`referral-loop report`: aligned tables with the seeded numbers and totals; --csv is the API's CSV.
The worklists name patients: each printing is audited with exactly the referrals printed, also
when run as its own process beside `make run` (the names sealed under its store key)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from referral_loop.keys import with_local_key
from referral_loop.settings import Settings, settings_env
from referral_loop.web.audit import AuditEvent, AuditLog, AuditQuery
from referral_loop.web.operator import os_user
from services.projections.report_cli import main
from tests.projections.browser import HARBOR, LAKESIDE, MONTHLY, MONTHS, WORKLIST_PATIENTS, Ops, opened_ops
from tests.support.processes import base_env

Capture = pytest.CaptureFixture[str]
RANGE = ["--from", "2026-01", "--to", "2026-06"]


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[Ops]:
    with opened_ops(Settings(data_dir=tmp_path, sqlite_path=tmp_path / "store.sqlite")) as opened:
        yield opened


def run(ops: Ops, capsys: Capture, *argv: str) -> str:
    assert main(ops.settings, list(argv)) == 0
    return capsys.readouterr().out


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_volume_table_has_a_titled_range_the_seeded_rows_and_a_totals_line(ops: Ops, capsys: Capture) -> None:
    lines = run(ops, capsys, "volume", "--by", "clinic", *RANGE).splitlines()
    assert lines[0] == "Referral volume by clinic, 2026-01 to 2026-06"
    assert cells(lines[2]) == ["Clinic", *MONTHS, "Total", "Year before"]
    harbor = next(line for line in lines if line.startswith("Harbor Family Medicine"))
    assert cells(harbor) == ["Harbor Family Medicine", *map(str, MONTHLY[HARBOR]), "16", "1"]
    month_totals = [str(sum(c[i] for c in MONTHLY.values())) for i in range(len(MONTHS))]
    assert cells(lines[-1]) == ["Total", *month_totals, "47", "3"]
    assert lines[-2].startswith("-----")
    widths = {len(line) for line in lines[2:] if line.strip()}
    assert len(widths) == 1, "every row of the table is as wide as the header: numbers right-aligned"


def test_as_of_and_top_in_the_table(ops: Ops, capsys: Capture) -> None:
    out = run(ops, capsys, "volume", *RANGE, "--as-of", "2026-06-30", "--top", "1")
    assert "as known on 2026-06-30 23:59" in out.splitlines()[0]
    assert "Summit Internal Medicine" in out and "Harbor Family Medicine" not in out
    totals = next(line for line in out.splitlines() if line.startswith("Total"))
    assert cells(totals)[3] == "9", "the totals count every office, as known on 30 June"
    assert out.splitlines()[-1] == "Rows 1 to 1 of 1 (the top 1); the totals count all."


@pytest.mark.parametrize(
    ("argv", "path"),
    [
        (["volume", "--by", "clinic", *RANGE], "/api/volume?by=clinic&from=2026-01&to=2026-06"),
        (
            ["volume", "--by", "provider", *RANGE, "--as-of", "2026-06-30"],
            "/api/volume?by=provider&from=2026-01&to=2026-06&as_of=2026-06-30",
        ),
        (["trends", "--by", "clinic", "--month", "2026-06"], "/api/trends?by=clinic&month=2026-06"),
        (["kpis", *RANGE, "--clinic", LAKESIDE], f"/api/kpis?from=2026-01&to=2026-06&clinic={LAKESIDE}"),
        (["scorecards", *RANGE], "/api/scorecards?from=2026-01&to=2026-06"),
        (["cms50", "--year", "2026"], "/api/cms50?year=2026"),
        (["worklists", "--list", "to_schedule"], "/api/worklists?list=to_schedule"),
        (["worklists", "--list", "awaiting_report"], "/api/worklists?list=awaiting_report"),
    ],
)
async def test_csv_is_exactly_the_api_csv(ops: Ops, capsys: Capture, argv: list[str], path: str) -> None:
    async with ops.client() as client:
        response = await client.get(f"{path}&format=csv")
    assert response.status_code == 200, response.text
    assert run(ops, capsys, *argv, "--csv") == response.text


@pytest.mark.parametrize(
    "report", [["trends", "--month", "2026-06"], ["kpis", *RANGE], ["scorecards", *RANGE]]
)
def test_the_other_reports_print_tables(ops: Ops, capsys: Capture, report: list[str]) -> None:
    out = run(ops, capsys, *report)
    assert "2026-06" in out.splitlines()[0]
    assert "Lakeside Pediatrics" in out or "2026-03" in out


def test_kpis_totals_count_every_referral(ops: Ops, capsys: Capture) -> None:
    lines = run(ops, capsys, "kpis", *RANGE).splitlines()
    assert cells(lines[-1])[:2] == ["Total", "47"]
    january = next(line for line in lines if line.startswith("2026-01"))
    assert cells(january)[1] == "9"


def test_worklists_print_every_list_with_patient_names(ops: Ops, capsys: Capture) -> None:
    out = run(ops, capsys, "worklists")
    for heading in (
        "To schedule (",
        "Scheduled (1)",
        "Awaiting report (1)",
        "Report overdue (0)",
        "Closed (0)",
    ):
        assert heading in out
    assert all(name in out for name in WORKLIST_PATIENTS.values())


def test_cms50_prints_one_row(ops: Ops, capsys: Capture) -> None:
    lines = run(ops, capsys, "cms50", "--year", "2026").splitlines()
    assert lines[0] == "CMS50 closing the referral loop, 2026"
    assert cells(lines[-1])[:2] == ["2026", "all offices"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["volume", "--from", "2026-13"], "use a month as YYYY-MM"),
        (["volume", "--from", "2026-06", "--to", "2026-01"], "must not be before from"),
        (["kpis", "--from", "2020-01", "--to", "2025-06"], "at most 60 months"),
        (["volume", "--limit", "0"], "--limit 1 to 500"),
        (["trends", "--as-of", "soon"], "use a date"),
        (["worklists", "--csv"], "--csv needs --list"),
        (["nonsense"], "invalid choice"),
        ([], "required"),
    ],
)
def test_a_bad_command_line_exits_2_saying_why(
    ops: Ops, capsys: Capture, argv: list[str], message: str
) -> None:
    assert main(ops.settings, argv) == 2
    assert message in capsys.readouterr().err


def test_help_exits_0(ops: Ops, capsys: Capture) -> None:
    assert main(ops.settings, ["--help"]) == 0
    assert "volume" in capsys.readouterr().out


async def api_worklists(ops: Ops, **params: str) -> dict[str, set[str]]:
    """Each list's referral ids, as the API shows them."""
    async with ops.client() as client:
        found = (await client.get("/api/worklists", params=params)).json()
    return {name: {item["referral_id"] for item in items} for name, items in found.items()}


def reports_audited(settings: Settings) -> list[AuditEvent]:
    log = AuditLog(settings, "test")
    try:
        return [e for e in reversed(log.query(AuditQuery(what="worklists"))) if e.service == "report"]
    finally:
        log.close()


async def test_printing_worklists_is_audited_with_the_referrals_printed(ops: Ops, capsys: Capture) -> None:
    run(ops, capsys, "worklists")
    run(ops, capsys, "worklists", "--list", "scheduled", "--csv")
    lists = await api_worklists(ops)
    every, scheduled = set().union(*lists.values()), lists["scheduled"]
    read, export = reports_audited(ops.settings)
    assert (read.who, read.role, read.action, read.outcome) == (os_user(), "admin", "read", "allowed")
    assert set(read.referral_ids) == every and every, "exactly the referrals whose names it printed"
    assert (export.action, set(export.referral_ids)) == ("export", scheduled)


def test_worklists_beside_make_run_open_the_sealed_names_and_are_audited(tmp_path: Path) -> None:
    """A process of its own, no store key in its environment, beside make run's data dir."""
    made = with_local_key(Settings(data_dir=tmp_path, sqlite_path=tmp_path / "store.sqlite"))
    with opened_ops(made):  # the views written by make run's projections: names sealed
        pass
    beside = made.model_copy(update={"store_key_file": None})
    command = [sys.executable, "-m", "launcher.cli", "report", "worklists"]
    env = {**base_env(), **settings_env(beside)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert all(name in done.stdout for name in WORKLIST_PATIENTS.values())
    [entry] = reports_audited(made)
    assert entry.action == "read" and len(entry.referral_ids) >= len(WORKLIST_PATIENTS)
