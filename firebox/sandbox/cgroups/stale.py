"""Cleaning up the groups of Firebox processes that died without doing it themselves (SIGKILL, power loss)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from firebox.sandbox.cgroups.base import wait_until

log = logging.getLogger(__name__)

_REMOVAL_DEADLINE_S = 1.0  # SIGKILLed processes leave their group within milliseconds


def remove_stale_trees(parents: Mapping[Path, Callable[[Path], None]]) -> None:
    """Remove every `firebox-<pid>` under each parent whose process is gone, and everything in it.

    `parents` maps each parent to how its groups end the processes still in them: sandboxes are SIGKILLed
    when their worker dies, but a frozen one cannot act on it until thawed. Every group of every
    hierarchy is released before any is removed, since on v1 a process leaves its memory group only once
    the freezer hierarchy has let it die.
    """
    pending: list[Path] = []
    for parent, release in parents.items():
        trees = [tree for tree in parent.glob("firebox-*") if _owner_gone(tree)]
        groups = [group for tree in trees for group in _groups_bottom_up(tree)]
        for group in groups:
            # Another worker process starting at the same time may have removed it first.
            with contextlib.suppress(FileNotFoundError):
                release(group)
        pending += [*groups, *trees]
    # A list, not a generator, inside all(): every round tries every group, children first.
    if pending and not wait_until(lambda: all([_rmdir(group) for group in pending]), _REMOVAL_DEADLINE_S):
        left = sorted(str(group) for group in pending if group.exists())
        log.warning("could not remove stale control groups %s; the next start tries again", left)


def _owner_gone(tree: Path) -> bool:
    owner = tree.name.removeprefix("firebox-")
    return tree.is_dir() and owner.isdigit() and not Path(f"/proc/{owner}").exists()


def _groups_bottom_up(tree: Path) -> list[Path]:
    """Every group below `tree`, children before their parents (a group with children cannot be removed).
    os.walk skips what vanishes while it looks: other worker processes starting now clean the same trees."""
    groups = [Path(directory) / name for directory, names, _ in os.walk(tree) for name in names]
    return sorted(groups, key=lambda path: len(path.parts), reverse=True)


def _rmdir(group: Path) -> bool:
    try:
        group.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True
