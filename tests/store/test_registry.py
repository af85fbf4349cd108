"""FunctionRegistry edge cases: races on one function, crashes half-way, numbering, references."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import msgspec
import pytest

from firebox.errors import InvalidParameter, ResourceConflict, ResourceNotFound, RevisionMismatch
from firebox.store import (
    LATEST,
    AliasRecord,
    Arns,
    CodeRef,
    Entry,
    FunctionCodec,
    FunctionConfig,
    FunctionRegistry,
    Sealer,
    SqliteStore,
    new_revision_id,
    now_last_modified,
)

ARNS = Arns("us-east-1", "000000000000")


class InterferingStore:
    """A SqliteStore that lets another writer in just before the next compare-and-set of a key."""

    def __init__(self, path: Path) -> None:
        self.inner = SqliteStore(path)
        self._before_update: dict[str, list[Callable[[], Awaitable[None]]]] = {}

    def before_next_update(self, key: str, meddle: Callable[[], Awaitable[None]]) -> None:
        self._before_update.setdefault(key, []).append(meddle)

    async def get(self, key: str) -> Entry | None:
        return await self.inner.get(key)

    async def create(self, key: str, value: bytes) -> int:
        return await self.inner.create(key, value)

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        pending = self._before_update.get(key)
        if pending:
            await pending.pop(0)()
        return await self.inner.update(key, value, expected_revision)

    async def delete(self, key: str, expected_revision: int | None = None) -> bool:
        return await self.inner.delete(key, expected_revision)

    async def scan(self, prefix: str, start_after: str = "", limit: int | None = None) -> list[Entry]:
        return await self.inner.scan(prefix, start_after, limit)

    async def close(self) -> None:
        await self.inner.close()


def _config(name: str, digest: str = "a" * 64, **changes: Any) -> FunctionConfig:
    config = FunctionConfig(
        name=name,
        version=LATEST,
        runtime="python3.11",
        handler="app.handler",
        role="arn:aws:iam::000000000000:role/r",
        code=CodeRef(digest=digest, size=10),
        last_modified=now_last_modified(),
        revision_id=new_revision_id(),
    )
    return msgspec.structs.replace(config, **changes)


def _alias(name: str, version: str, weights: dict[str, float] | None = None) -> AliasRecord:
    return AliasRecord(
        function_name="f",
        name=name,
        function_version=version,
        revision_id=new_revision_id(),
        additional_weights=weights or {},
    )


def _run(tmp_path: Path, scenario: Callable[[FunctionRegistry, InterferingStore], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        store = InterferingStore(tmp_path / "state.db")
        try:
            await scenario(FunctionRegistry(store, ARNS, FunctionCodec(Sealer(secrets.token_bytes(32)))), store)
        finally:
            await store.close()

    asyncio.run(main())


def test_concurrent_updates_of_latest_lose_nothing(tmp_path: Path) -> None:
    async def scenario(registry: FunctionRegistry, store: InterferingStore) -> None:
        await registry.create_function(_config("f"))

        async def other_writer() -> None:
            await registry.update_latest("f", lambda c: msgspec.structs.replace(c, timeout=60))

        store.before_next_update("fn/f", other_writer)
        updated = await registry.update_latest("f", lambda c: msgspec.structs.replace(c, memory_size=512))
        assert (updated.timeout, updated.memory_size) == (60, 512)
        assert (await registry.get_config("f", LATEST)) == updated

    _run(tmp_path, scenario)


def test_a_stale_revision_loses_to_a_writer_that_came_first(tmp_path: Path) -> None:
    async def scenario(registry: FunctionRegistry, store: InterferingStore) -> None:
        created = await registry.create_function(_config("f"))

        async def other_writer() -> None:
            await registry.update_latest("f", lambda c: msgspec.structs.replace(c, timeout=60))

        store.before_next_update("fn/f", other_writer)
        with pytest.raises(RevisionMismatch):
            await registry.update_latest("f", lambda c: c, expected_revision_id=created.revision_id)
        assert (await registry.get_config("f", LATEST)).timeout == 60

    _run(tmp_path, scenario)


def test_publish_racing_an_update_publishes_what_latest_became(tmp_path: Path) -> None:
    async def scenario(registry: FunctionRegistry, store: InterferingStore) -> None:
        await registry.create_function(_config("f"))

        async def new_code() -> None:
            await registry.update_latest("f", lambda c: msgspec.structs.replace(c, code=CodeRef("b" * 64, 20)))

        store.before_next_update("fn/f", new_code)  # lands between writing version 1 and bumping the counter
        published = await registry.publish_version("f")
        assert (published.version, published.code.digest) == ("1", "b" * 64)
        assert [v.version for v in await registry.list_versions("f")] == [LATEST, "1"]
        assert (await registry.get_function("f")).next_version == 2

    _run(tmp_path, scenario)


def test_version_numbers_are_never_reused(tmp_path: Path) -> None:
    async def scenario(registry: FunctionRegistry, _: InterferingStore) -> None:
        await registry.create_function(_config("f"))
        for timeout in (10, 20):
            await registry.update_latest("f", lambda c, t=timeout: msgspec.structs.replace(c, timeout=t))
            await registry.publish_version("f")
        await registry.delete_version("f", "2")
        await registry.delete_version("f", "1")
        await registry.update_latest("f", lambda c: msgspec.structs.replace(c, timeout=30))
        assert (await registry.publish_version("f")).version == "3"

    _run(tmp_path, scenario)


def test_publish_of_an_unchanged_latest_is_the_last_version(tmp_path: Path) -> None:
    async def scenario(registry: FunctionRegistry, _: InterferingStore) -> None:
        await registry.create_function(_config("f"))
        first = await registry.publish_version("f", description="one")
        assert await registry.publish_version("f", description="again") == first
        await registry.update_latest("f", lambda c: msgspec.structs.replace(c, environment={"AB": "1"}))
        assert (await registry.publish_version("f")).version == "2"

    _run(tmp_path, scenario)


def test_publish_checks_code_sha256_and_revision(tmp_path: Path) -> None:
    async def scenario(registry: FunctionRegistry, _: InterferingStore) -> None:
        created = await registry.create_function(_config("f"))
        with pytest.raises(InvalidParameter, match="CodeSha256"):
            await registry.publish_version("f", expected_code_sha256=CodeRef("b" * 64, 1).sha256_b64)
        with pytest.raises(RevisionMismatch):
            await registry.publish_version("f", expected_revision_id=new_revision_id())
        published = await registry.publish_version(
            "f", expected_code_sha256=created.code.sha256_b64, expected_revision_id=created.revision_id
        )
        assert published.version == "1"

    _run(tmp_path, scenario)


def test_a_create_after_a_crashed_delete_starts_clean(tmp_path: Path) -> None:
    async def scenario(registry: FunctionRegistry, store: InterferingStore) -> None:
        await registry.create_function(_config("f"))
        await registry.publish_version("f")
        await registry.create_alias(_alias("live", "1"))
        await store.delete("fn/f")  # DeleteFunction got this far, then the process died
        with pytest.raises(ResourceNotFound):
            await registry.get_alias("f", "live")
        await registry.create_function(_config("f", digest="c" * 64))
        assert [v.version for v in await registry.list_versions("f")] == [LATEST]
        assert await registry.list_aliases("f") == []
        assert (await registry.publish_version("f")).version == "1"

    _run(tmp_path, scenario)


def test_a_duplicate_function_conflicts(tmp_path: Path) -> None:
    async def scenario(registry: FunctionRegistry, _: InterferingStore) -> None:
        first = await registry.create_function(_config("f"))
        with pytest.raises(ResourceConflict):
            await registry.create_function(_config("f", digest="b" * 64))
        assert await registry.get_config("f", LATEST) == first

    _run(tmp_path, scenario)


@pytest.mark.parametrize("version", ["0", "01", "2", "x", "1.0", "-1", "\u00b2"])
def test_only_an_existing_version_number_is_found(tmp_path: Path, version: str) -> None:
    async def scenario(registry: FunctionRegistry, _: InterferingStore) -> None:
        await registry.create_function(_config("f"))
        await registry.publish_version("f")
        with pytest.raises(ResourceNotFound):
            await registry.get_config("f", version)
        assert (await registry.get_config("f", "1")).version == "1"

    _run(tmp_path, scenario)


def test_versions_an_alias_routes_to_cannot_be_deleted(tmp_path: Path) -> None:
    async def scenario(registry: FunctionRegistry, _: InterferingStore) -> None:
        await registry.create_function(_config("f"))
        await registry.publish_version("f")
        await registry.update_latest("f", lambda c: msgspec.structs.replace(c, timeout=9))
        await registry.publish_version("f")
        await registry.create_alias(_alias("live", "2", {"1": 0.3}))
        for version in ("1", "2"):
            with pytest.raises(ResourceConflict, match="live"):
                await registry.delete_version("f", version)
        with pytest.raises(ResourceNotFound):
            await registry.delete_version("f", "3")

    _run(tmp_path, scenario)


@pytest.mark.parametrize(
    ("version", "weights", "error"),
    [
        ("1", {"1": 0.5}, InvalidParameter),
        (LATEST, {"1": 0.5}, InvalidParameter),
        ("1", {"2": 0.5, "3": 0.1}, InvalidParameter),
        ("1", {"9": 0.5}, ResourceNotFound),
        ("9", {}, ResourceNotFound),
    ],
    ids=["primary-again", "latest", "two-extra", "missing-extra", "missing-primary"],
)
def test_alias_targets_are_checked(
    tmp_path: Path, version: str, weights: dict[str, float], error: type[Exception]
) -> None:
    async def scenario(registry: FunctionRegistry, _: InterferingStore) -> None:
        await registry.create_function(_config("f"))
        for timeout in (1, 2, 3):
            await registry.update_latest("f", lambda c, t=timeout: msgspec.structs.replace(c, timeout=t))
            await registry.publish_version("f")
        with pytest.raises(error):
            await registry.create_alias(_alias("live", version, weights))
        assert await registry.list_aliases("f") == []

    _run(tmp_path, scenario)


def test_list_functions_pages_by_name(tmp_path: Path) -> None:
    async def scenario(registry: FunctionRegistry, _: InterferingStore) -> None:
        for name in ("c", "a", "b"):
            await registry.create_function(_config(name))
        first, marker = await registry.list_functions("", 2)
        assert ([c.name for c in first], marker) == (["a", "b"], "b")
        assert marker is not None
        rest, marker = await registry.list_functions(marker, 2)
        assert ([c.name for c in rest], marker) == (["c"], None)
        exact, marker = await registry.list_functions("", 3)
        assert (len(exact), marker) == (3, None)

    _run(tmp_path, scenario)
