"""Fixtures of the kill tests: the seed of each run's fault schedule (printed, and settable with
FAULTS_SEED to replay a run)."""

from __future__ import annotations

import os
import random

import pytest


@pytest.fixture
def fault_seed() -> int:
    seed = int(os.environ.get("FAULTS_SEED") or random.SystemRandom().randrange(2**31))
    print(f"fault seed: {seed} (FAULTS_SEED={seed} replays this schedule)")
    return seed
