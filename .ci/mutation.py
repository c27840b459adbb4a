"""`make mutation`: mutmut over the domain rules' modules, then the score of each module.

The modules and the fast unit tests run against them are in pyproject.toml's [tool.mutmut]
(mutmut runs, for each mutant, only the selected tests that call the mutated function). Every
run starts from a fresh `mutants/` (mutmut copies the code there once and would otherwise keep
copies of files changed since). A module's score counts killed and timed-out mutants against all
its mutants less the ones listed in EQUIVALENT (mutants that cannot change behaviour; each with
its reason, in docs/mutation.md too). Exits 1 when a module scores under MUTATION_MIN (95) or an
EQUIVALENT entry no longer survives as described.

    .venv/bin/python .ci/mutation.py [--jobs N] [--report-only]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = ROOT / ".venv" / "bin" / "mutmut"
LOG = ROOT / "mutants" / "mutmut-run.log"

KILLED = {
    1: "killed",
    3: "killed",
    36: "timeout",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
}
STATUS = {0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 35: "suspicious", None: "not checked"}

SQL_CASE = "SQL keywords and unquoted column names are case-insensitive (SQLite and PostgreSQL)"
ZIP_STRICT = (
    "`strict` only matters if the row and the column list differ in length; the row comes from a "
    "SELECT of that very column list"
)
EQUIVALENT: dict[str, tuple[str, str]] = {
    # mutant name: (a piece of its mutated line, why it cannot change behaviour)
    "contracts.fields.x_luhn_is_valid__mutmut_23": (
        "total -= value",
        "the sum only decides `total % 10 == 0`, and in Python -n % 10 == 0 exactly when n % 10 == 0",
    ),
    "services.projections.queries.trends.x__window_rows__mutmut_8": ('" and received_recorded_at', SQL_CASE),
    "services.projections.queries.trends.x__window_rows__mutmut_9": ("RECEIVED_RECORDED_AT", SQL_CASE),
    "services.projections.queries.trends.x__window_rows__mutmut_18": ('" order by received_at"', SQL_CASE),
    "services.projections.queries.trends.x__window_rows__mutmut_19": ("RECEIVED_AT", SQL_CASE),
    "services.projections.queries.trends.x__seen_before__mutmut_14": ('" and received_recorded_at', SQL_CASE),
    "services.projections.queries.trends.x__seen_before__mutmut_15": ("RECEIVED_RECORDED_AT", SQL_CASE),
    "services.projections.queries.trends.x__misses__mutmut_7": ("strict=None", ZIP_STRICT),
    "services.projections.queries.trends.x__misses__mutmut_10": ("row[2:], )", ZIP_STRICT),
    "services.projections.queries.trends.x__misses__mutmut_14": ("strict=False", ZIP_STRICT),
    "services.projections.queries.trends.x_trends__mutmut_41": (
        "min(r[3] for r in rs)",
        "r[3] is received_at, a fixed-width UTC stamp ('2026-08-03T10:00:00.000000Z'), r[2] its "
        "month ('2026-08'): as text, the earliest stamp is on or after 'YYYY-MM' exactly when the "
        "earliest month is",
    ),
    "services.projections.queries.kpis.x__loops__mutmut_6": ('" and ".join', SQL_CASE),
    "services.projections.queries.kpis.x__loops__mutmut_8": ('"MONTH >= ?"', SQL_CASE),
    "services.projections.queries.kpis.x__loops__mutmut_10": ('"MONTH <= ?"', SQL_CASE),
    "services.projections.queries.kpis.x__loop__mutmut_5": ("strict=None", ZIP_STRICT),
    "services.projections.queries.kpis.x__loop__mutmut_8": ("row, )", ZIP_STRICT),
    "services.projections.queries.kpis.x__loop__mutmut_11": ("strict=False", ZIP_STRICT),
}


def modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return list(config["only_mutate"])


def run_mutmut(jobs: int) -> None:
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    LOG.parent.mkdir()
    print(f"mutmut run over {', '.join(modules())} ({jobs} at a time; its output: {LOG.relative_to(ROOT)})")
    with LOG.open("w") as log:
        done = subprocess.run(  # noqa: S603 - our own virtualenv's mutmut, fixed arguments
            [str(MUTMUT), "run", "--max-children", str(jobs)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    if done.returncode != 0:
        tail = LOG.read_text(errors="replace").replace("\r", "\n").splitlines()[-40:]
        print("\n".join(tail), file=sys.stderr)
        sys.exit(f"mutmut failed (exit {done.returncode}); the whole output is in {LOG}")


def mutated_line(name: str) -> str:
    """The added lines of `mutmut show name` (what the mutant changed the code to)."""
    shown = subprocess.run(  # noqa: S603 - our own virtualenv's mutmut, fixed arguments
        [str(MUTMUT), "show", name], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return "\n".join(
        line[1:].strip() for line in shown.splitlines() if line.startswith("+") and not line.startswith("+++")
    )


def report(minimum: float) -> bool:
    ok = True
    rows, unexplained, stale = [], [], []
    for module in modules():
        meta = ROOT / "mutants" / f"{module}.meta"
        codes: dict[str, int | None] = (
            json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        )
        statuses = Counter(KILLED.get(c) or STATUS.get(c, "suspicious") for c in codes.values())  # type: ignore[arg-type]
        survivors = sorted(n for n, c in codes.items() if KILLED.get(c) is None)  # type: ignore[arg-type]
        equivalent = []
        for name in survivors:
            if name in EQUIVALENT:
                piece = EQUIVALENT[name][0]
                if piece in mutated_line(name):
                    equivalent.append(name)
                    continue
                stale.append(f"{name}: listed as equivalent ({piece!r}) but now mutates something else")
            unexplained.append((name, mutated_line(name)))
        for name, (piece, _) in EQUIVALENT.items():
            if name.startswith(module[:-3].replace("/", ".") + ".x") and codes.get(name) in KILLED:
                stale.append(f"{name}: listed as equivalent ({piece!r}) but a test kills it")
        detected = statuses["killed"] + statuses["timeout"]
        counted = len(codes) - len(equivalent)
        score = 100.0 * detected / counted if counted else 0.0
        ok &= bool(codes) and score >= minimum
        rows.append((module, len(codes), detected, len(survivors), len(equivalent), statuses, score))

    print()
    print("| module | mutants | killed | survived | of which equivalent | score |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for module, total, detected, survived, equivalent, statuses, score in rows:
        other = {k: v for k, v in statuses.items() if k not in ("killed", "timeout", "survived")}
        note = f" ({', '.join(f'{v} {k}' for k, v in other.items())})" if other else ""
        print(f"| {module} | {total} | {detected} | {survived}{note} | {equivalent} | {score:.1f}% |")
    print()
    print("score = (killed + timed out) / (mutants - equivalent); equivalent mutants: docs/mutation.md")
    if unexplained:
        print("\nSurviving mutants (not listed as equivalent):")
        for name, line in unexplained:
            print(f"  {name}\n      -> {line}")
    for problem in stale:
        print(f"STALE EQUIVALENT ENTRY: {problem}")
    if not ok:
        print(f"\nA module scores under {minimum:g}% (MUTATION_MIN).")
    return ok and not stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--report-only", action="store_true", help="report the last run's mutants/ again")
    parser.add_argument("--min", type=float, default=float(os.environ.get("MUTATION_MIN", "95")))
    args = parser.parse_args()
    if not args.report_only:
        run_mutmut(args.jobs)
    sys.exit(0 if report(args.min) else 1)


if __name__ == "__main__":
    main()
