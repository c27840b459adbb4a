"""Where a rebuild writes its new tables: a scratch SQLite file beside the views, or suffixed
tables in the PostgreSQL database of the views.

A parallel rebuild has one target per worker: the first is the rebuild's own (the others are
merged into it, then it is swapped in), the others are named after it (`<suffix>_<n>`), so
whatever a rebuild leaves behind is recognisable by `_rebuild` in its name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from referral_loop.settings import Settings
from services.projections.db import Database
from services.projections.schema import drop


@dataclass(frozen=True)
class Build:
    """Where a rebuild writes: `db`, tables named with `suffix`; `file` when that is a scratch file."""

    db: Database
    suffix: str
    file: Path | None

    def discard(self) -> None:
        """Close the scratch file and delete it (the tables in it are swapped in or abandoned)."""
        if self.file is not None:
            self.db.close()
            for path in (self.file, self.file.with_name(f"{self.file.name}-journal")):
                path.unlink(missing_ok=True)

    def abandon(self) -> None:
        """Remove what was built here: the scratch file, or the suffixed tables."""
        if self.file is None:
            drop(self.db, self.suffix)
        self.discard()


def build_target(settings: Settings, live: Database, suffix: str | None = None) -> Build:
    """A new target (tables named with a fresh suffix, or `suffix`), nothing in it yet. Nothing
    is connected to: a worker process opens the target on its own."""
    suffix = suffix or f"_rebuild{time.time_ns()}"
    if live.dialect != "sqlite":
        return Build(live, suffix, None)
    file = settings.views_sqlite_file.with_name(f"{settings.views_sqlite_file.name}{suffix}")
    build = Build(Database(settings, file, scratch=True), suffix, file)
    build.discard()
    return build


def part_targets(settings: Settings, build: Build, workers: int) -> list[Build]:
    """The targets of a parallel rebuild's workers: `build` itself, then one more per worker."""
    return [build] + [build_target(settings, build.db, f"{build.suffix}_{n}") for n in range(1, workers)]
