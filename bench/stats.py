"""Percentiles, goals and printed tables, shared by the benchmarks.

A table's rows are figures keyed by name (`summary()` makes latency rows); it can add a ratio of each
row to a reference row measured in the same run, and check goals beside the figures they bound.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

Row = Mapping[str, float]
_PIPED_WIDTH = 180  # rich's 80 columns when not on a terminal would wrap the tables' names


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # the figure's key in each row
    header: str
    digits: int = 3


@dataclass(frozen=True, slots=True)
class Goal:
    """An upper bound on one figure of a row: `key` at most `limit`."""

    key: str
    limit: float
    label: str  # the goal as a reader sees it: "p50 <= 15 ms"

    def met(self, row: Row) -> bool:
        return row[self.key] <= self.limit


LATENCY_COLUMNS = (
    Column("n", "n", 0),
    Column("p50_ms", "p50 ms"),
    Column("p99_ms", "p99 ms"),
    Column("mean_ms", "mean ms"),
)


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


def goal_results(rows: Mapping[str, Row], goals: Mapping[str, Sequence[Goal]]) -> list[dict[str, object]]:
    """Each goal with the figure it bounds and whether it was met, for a JSON report."""
    return [
        {"row": name, "goal": goal.label, "figure": rows[name][goal.key], "met": goal.met(rows[name])}
        for name, row_goals in goals.items()
        for goal in row_goals
    ]


def print_table(
    title: str,
    rows: Mapping[str, Row],
    columns: Sequence[Column] = LATENCY_COLUMNS,
    *,
    ratio_to: str | None = None,
    ratio_key: str = "p50_ms",
    ratio_header: str = "ratio",
    goals: Mapping[str, Sequence[Goal]] | None = None,
    notes: Sequence[str] = (),
) -> None:
    """Print `rows` as one table; with `ratio_to`, a column (`ratio_header`) of each row's `ratio_key` divided
    by that row's, and with `goals`, each goal and PASS or MISS beside the row it bounds. `notes` go under the table."""
    goals = goals or {}
    table = Table(title=title, caption="\n".join(notes) or None, caption_justify="left")
    table.add_column("measurement", justify="left")
    for column in columns:
        table.add_column(column.header, justify="right")
    if ratio_to is not None:
        table.add_column(ratio_header, justify="right")
    if goals:
        table.add_column("goal")
        table.add_column("verdict")
    for name, row in rows.items():
        cells = [name, *(f"{row[c.key]:.{c.digits}f}" if c.key in row else "" for c in columns)]
        if ratio_to is not None:
            reference = rows[ratio_to][ratio_key]
            cells.append(f"{row[ratio_key] / reference:.2f}x" if reference and ratio_key in row else "")
        if goals:
            row_goals = goals.get(name, ())
            cells.append("\n".join(goal.label for goal in row_goals))
            cells.append("\n".join("[green]PASS[/]" if g.met(row) else "[red]MISS[/]" for g in row_goals))
        table.add_row(*cells)
    console = Console()
    if not console.is_terminal:
        console = Console(width=_PIPED_WIDTH)
    console.print(table)
