"""Every measurement of bench/sandbox.py runs end to end with tiny counts and reports each goal."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.baselines import ensure_runc_hint
from bench.sandbox import MEASUREMENTS, main
from firebox.sandbox import unavailable_reason

MISSING = unavailable_reason() or ensure_runc_hint() or (os.geteuid() != 0 and "needs root")
pytestmark = pytest.mark.skipif(bool(MISSING), reason=str(MISSING))


def test_every_measurement_runs_with_tiny_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    figures_path = tmp_path / "figures.json"
    main(["--runs", "2", "--environments", "3", "--warm", "10", "--json", str(figures_path)])
    figures = json.loads(figures_path.read_text())
    assert set(MEASUREMENTS) <= set(figures)
    for name in ("cold", "boto3", "density", "warm"):
        assert all(row["n"] > 0 for row in figures[name]["rows"].values()), name
        assert figures[name]["goals"] and all(isinstance(g["met"], bool) for g in figures[name]["goals"]), name
    assert figures["cold"]["rows"]["Firebox cold start: Init Duration (REPORT)"]["n"] == 2
    assert sum(figures["density"]["processes_per_environment"].values()) == 3
    assert all(row["n"] == 2 for row in figures["thaw"]["rows"].values())
    assert isinstance(figures["thaw"]["thaw_p50_ms"], float)
    printed = capsys.readouterr().out
    assert "(a) Cold start" in printed and "(d) Warm invoke" in printed


def test_only_runs_the_measurements_named(tmp_path: Path) -> None:
    figures_path = tmp_path / "figures.json"
    main(["--environments", "1", "--only", "density,thaw", "--json", str(figures_path)])
    assert set(json.loads(figures_path.read_text())) == {"machine", "density", "thaw", "load_average_after"}


def test_unknown_measurement_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--only", "cold,bogus"])
    assert "choose from cold, boto3, density, warm, thaw" in capsys.readouterr().err
