"""What a Qualifier ($LATEST, a version number, an alias) points at."""

from __future__ import annotations

import random

from firebox.store import LATEST, AliasRecord, FunctionConfig, FunctionRegistry, published_number


def is_version(qualifier: str) -> bool:
    return qualifier == LATEST or published_number(qualifier) is not None


async def resolve(registry: FunctionRegistry, name: str, qualifier: str | None) -> tuple[str, AliasRecord | None]:
    """The version a qualifier names, and the alias it went through if any (its weights may pick another)."""
    if qualifier is None or is_version(qualifier):
        return qualifier or LATEST, None
    alias = await registry.get_alias(name, qualifier)
    return alias.function_version, alias


def pick_version(alias: AliasRecord, draw: float | None = None) -> str:
    """Route one invocation by the alias's weights: each extra version gets its share, the rest the primary."""
    point = random.random() if draw is None else draw
    for version, weight in sorted(alias.additional_weights.items()):
        if point < weight:
            return version
        point -= weight
    return alias.function_version


async def resolve_config(registry: FunctionRegistry, name: str, qualifier: str | None) -> FunctionConfig:
    version, _ = await resolve(registry, name, qualifier)
    return await registry.get_config(name, version)
