"""Each cold-start baseline runs and returns one positive sample per run."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.baselines import ensure_runc_hint, fresh_interpreter_ms, runc_container_ms

RUNC_MISSING = ensure_runc_hint() or (os.geteuid() != 0 and "the runc baseline needs root")
needs_runc = pytest.mark.skipif(bool(RUNC_MISSING), reason=str(RUNC_MISSING))


@pytest.mark.parametrize(
    "baseline",
    [fresh_interpreter_ms, pytest.param(runc_container_ms, marks=needs_runc)],
    ids=["fresh_interpreter", "runc_container"],
)
@pytest.mark.parametrize("site", [True, False], ids=["site", "no_site"])
def test_baseline_returns_one_positive_sample_per_run(
    baseline: Callable[..., list[float]], site: bool, tmp_path: Path
) -> None:
    samples = baseline(2, tmp_path, site=site)
    assert len(samples) == 2
    assert all(sample > 0 for sample in samples)
