"""SnapStart's runtime hooks: the API of AWS's `snapshot_restore_py`, which user code imports by that name.

Functions register code to run just before the execution environment is snapshotted (close connections,
drop secrets) and just after each copy is restored (reconnect, refresh what must be unique). The loop
runs the before-snapshot hooks last registered first and the after-restore hooks in registration order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

_Func = TypeVar("_Func", bound=Callable[..., Any])
# A hook as registered: the function, then the positional and keyword arguments to call it with.
Hook = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]

_before_snapshot: list[Hook] = []
_after_restore: list[Hook] = []


def register_before_snapshot(func: _Func, *args: Any, **kwargs: Any) -> _Func:
    """Run `func(*args, **kwargs)` before the snapshot; returns `func`, so it also works as a decorator."""
    _before_snapshot.append((func, args, kwargs))
    return func


def register_after_restore(func: _Func, *args: Any, **kwargs: Any) -> _Func:
    """Run `func(*args, **kwargs)` in each restored copy; returns `func`, so it also works as a decorator."""
    _after_restore.append((func, args, kwargs))
    return func


def get_before_snapshot() -> list[Hook]:
    """The before-snapshot hooks, in registration order."""
    return _before_snapshot


def get_after_restore() -> list[Hook]:
    """The after-restore hooks, in registration order."""
    return _after_restore
