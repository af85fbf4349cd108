"""Percentiles and a printed table, shared by the benchmarks."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(samples_ms: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(samples_ms),
        "p50_ms": statistics.median(samples_ms),
        "p99_ms": percentile(samples_ms, 0.99),
        "mean_ms": statistics.fmean(samples_ms),
    }


def print_table(title: str, rows: dict[str, dict[str, float]]) -> None:
    table = Table(title=title)
    for column in ("measurement", "n", "p50 ms", "p99 ms", "mean ms"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    for name, row in rows.items():
        table.add_row(
            name, str(int(row["n"])), f"{row['p50_ms']:.3f}", f"{row['p99_ms']:.3f}", f"{row['mean_ms']:.3f}"
        )
    Console().print(table)
