"""LayerRegistry: version numbers that are never reused, concurrent publishes, and policy changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import msgspec
import pytest

from firebox.errors import ResourceNotFound, RevisionMismatch
from firebox.store import Arns, CodeRef, LayerPermission, LayerRegistry, LayerVersionRecord, SqliteStore
from tests.store.test_registry import InterferingStore

ARNS = Arns("us-east-1", "000000000000")
CONTENT = CodeRef(digest="c" * 64, size=10)


def _run(tmp_path: Path, scenario: Callable[[LayerRegistry, InterferingStore], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        store = InterferingStore(tmp_path / "state.db")
        try:
            await scenario(LayerRegistry(store, ARNS), store)
        finally:
            await store.close()

    asyncio.run(main())


def test_numbers_count_up_per_layer_and_survive_deletion(tmp_path: Path) -> None:
    async def scenario(layers: LayerRegistry, store: InterferingStore) -> None:
        assert [(await layers.publish("a", CONTENT)).version for _ in range(2)] == [1, 2]
        assert (await layers.publish("b", CONTENT)).version == 1
        await layers.delete("a", 1)
        await layers.delete("a", 2)
        assert await layers.versions("a") == []
        assert await layers.names() == ["a", "b"]  # a layer name is kept, with the number it is at
        assert (await layers.publish("a", CONTENT)).version == 3
        assert [v.version for v in await layers.versions("a")] == [3]

    _run(tmp_path, scenario)


def test_numbers_survive_a_restart(tmp_path: Path) -> None:
    async def publish_one() -> int:
        store = SqliteStore(tmp_path / "state.db")
        try:
            layers = LayerRegistry(store, ARNS)
            published = await layers.publish("a", CONTENT)
            await layers.delete("a", published.version)
            return published.version
        finally:
            await store.close()

    assert [asyncio.run(publish_one()) for _ in range(2)] == [1, 2]


def test_concurrent_publishes_get_distinct_numbers(tmp_path: Path) -> None:
    async def scenario(layers: LayerRegistry, store: InterferingStore) -> None:
        await layers.publish("a", CONTENT)
        other: list[LayerVersionRecord] = []

        async def other_publisher() -> None:
            other.append(await layers.publish("a", CONTENT, description="other"))

        store.before_next_update("layer/a", other_publisher)
        mine = await layers.publish("a", CONTENT, description="mine")
        assert (other[0].version, mine.version) == (2, 3)
        assert [v.description for v in await layers.versions("a")] == ["", "other", "mine"]

    _run(tmp_path, scenario)


def test_policy_changes_check_the_revision_and_lose_nothing(tmp_path: Path) -> None:
    def granting(statement_id: str) -> Callable[[LayerVersionRecord], LayerVersionRecord]:
        permission = LayerPermission(statement_id=statement_id, action="lambda:GetLayerVersion", principal="*")
        return lambda record: msgspec.structs.replace(record, permissions=(*record.permissions, permission))

    async def scenario(layers: LayerRegistry, store: InterferingStore) -> None:
        published = await layers.publish("a", CONTENT)

        async def other_writer() -> None:
            await layers.change_policy("a", 1, granting("other"))

        store.before_next_update("lver/a/0000000001", other_writer)
        changed = await layers.change_policy("a", 1, granting("mine"))
        assert [p.statement_id for p in changed.permissions] == ["other", "mine"]  # tried again on top of it
        # A caller that read the policy before another writer changed it is refused, even mid-change.
        store.before_next_update("lver/a/0000000001", other_writer)
        with pytest.raises(RevisionMismatch):
            await layers.change_policy("a", 1, granting("late"), changed.policy_revision_id)
        with pytest.raises(RevisionMismatch):
            await layers.change_policy("a", 1, granting("late"), published.policy_revision_id)
        with pytest.raises(ResourceNotFound, match="Layer version arn:aws:lambda:us-east-1:000000000000:layer:a:9"):
            await layers.change_policy("a", 9, granting("x"))

    _run(tmp_path, scenario)
