"""Code signing state: configurations (ids, paging, concurrent changes, which functions use one) and signing
profile versions (a new version per create, revocation)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import msgspec
import pytest

from firebox.errors import ResourceNotFound
from firebox.store import CodeSigningConfigRegistry, FunctionCodec, FunctionRegistry, Sealer, SigningProfileRegistry
from tests.store.test_registry import ARNS, InterferingStore, _config

PUBLISHER = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/ci/AbCdEf1234"
Scenario = Callable[[CodeSigningConfigRegistry, SigningProfileRegistry, InterferingStore], Coroutine[Any, Any, None]]


def _run(tmp_path: Path, scenario: Scenario) -> None:
    async def main() -> None:
        store = InterferingStore(tmp_path / "state.db")
        try:
            await scenario(CodeSigningConfigRegistry(store, ARNS), SigningProfileRegistry(store), store)
        finally:
            await store.close()

    asyncio.run(main())


def test_configurations_are_created_found_paged_and_deleted(tmp_path: Path) -> None:
    async def scenario(configs: CodeSigningConfigRegistry, _: SigningProfileRegistry, __: InterferingStore) -> None:
        made = [await configs.create((PUBLISHER,), "Enforce", f"config {i}", {}) for i in range(3)]
        assert all(len(m.config_id) == 21 and m.config_id.startswith("csc-") for m in made)
        assert await configs.get(made[0].config_id) == made[0]
        in_order = sorted(m.config_id for m in made)
        first, marker = await configs.list("", 2)
        assert ([r.config_id for r in first], marker) == (in_order[:2], in_order[1])
        rest, marker = await configs.list(in_order[1], 2)
        assert ([r.config_id for r in rest], marker) == (in_order[2:], None)
        assert await configs.delete(made[0].config_id)
        assert await configs.get(made[0].config_id) is None
        with pytest.raises(ResourceNotFound):
            await configs.change(made[0].config_id, lambda record: record)

    _run(tmp_path, scenario)


def test_concurrent_changes_of_a_configuration_lose_nothing(tmp_path: Path) -> None:
    async def scenario(configs: CodeSigningConfigRegistry, _: SigningProfileRegistry, store: InterferingStore) -> None:
        config_id = (await configs.create((PUBLISHER,), "Warn", "", {})).config_id

        async def meddle() -> None:
            await configs.change(config_id, lambda r: msgspec.structs.replace(r, tags={"team": "a"}))

        store.before_next_update(f"csc/{config_id}", meddle)
        changed = await configs.change(config_id, lambda r: msgspec.structs.replace(r, description="mine"))
        assert (changed.description, changed.tags) == ("mine", {"team": "a"})

    _run(tmp_path, scenario)


def test_a_profile_gets_a_new_version_each_time_and_a_revoked_one_stays_revoked(tmp_path: Path) -> None:
    async def scenario(_: CodeSigningConfigRegistry, profiles: SigningProfileRegistry, __: InterferingStore) -> None:
        first = await profiles.create("ci", b"k" * 32)
        second = await profiles.create("ci", b"l" * 32)
        assert first.version != second.version and len(first.version) == 10 and first.version.isalnum()
        assert await profiles.get("ci", first.version) == first
        revoked = await profiles.revoke("ci", first.version)
        assert revoked is not None and revoked.revoked is not None
        assert await profiles.revoke("ci", first.version) == revoked  # a second revoke changes nothing
        assert [(p.version, p.revoked is None) for p in await profiles.list()] == sorted(
            [(first.version, False), (second.version, True)]
        )
        assert await profiles.revoke("ci", "NoSuchVers") is None

    _run(tmp_path, scenario)


def test_the_functions_using_a_configuration_are_found(tmp_path: Path) -> None:
    async def main() -> None:
        store = InterferingStore(tmp_path / "state.db")
        try:
            registry = FunctionRegistry(store, ARNS, FunctionCodec(Sealer(secrets.token_bytes(32))))
            await registry.create_function(_config("a"), code_signing_config="csc-1")
            await registry.create_function(_config("b"))
            await registry.set_code_signing_config("b", "csc-1")
            await registry.create_function(_config("c"), code_signing_config="csc-2")
            assert await registry.functions_with_code_signing_config("csc-1") == ["a", "b"]
            await registry.set_code_signing_config("a", None)
            assert await registry.functions_with_code_signing_config("csc-1") == ["b"]
            assert (await registry.get_function("c")).code_signing_config == "csc-2"
        finally:
            await store.close()

    asyncio.run(main())
