"""A long-running process's heap after start-up: what start-up made taken out of the collector's way.

A service imports a great deal before its first fact (pydantic's schemas, FastAPI's routes,
jinja2's templates, eventsourcing's mappers): some hundred thousand objects that live as long as
the process. Python's cyclic garbage collector rescans all of them at every full collection,
tens of milliseconds each on a busy two-core machine, and a projector or writer caught in one
stalls every fact behind it (the bench's projection-lag tail: docs/performance.md). Freezing
them once the service is set up leaves the collector only what was made since.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Collect once, then move every object alive now to the permanent generation (never scanned,
    never collected: these are modules, classes, schemas, settings). How many were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
