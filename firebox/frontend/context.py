"""What every API resource module of the frontend works with, built once by the server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from firebox.assignment import Assignment
from firebox.errors import ResourceNotFound
from firebox.events import AsyncInvocations
from firebox.frontend.authentication import Caller
from firebox.frontend.function_shapes import function_configuration
from firebox.frontend.names import code_signing_config_id
from firebox.frontend.qualifiers import resolve_config
from firebox.observability import LogStore
from firebox.store import (
    Arns,
    CodeSigningConfigRecord,
    CodeSigningConfigRegistry,
    CodeStore,
    FunctionConfig,
    FunctionRegistry,
    LayerRegistry,
    SigningProfileRegistry,
)
from firebox.worker import Runtimes


@dataclass(frozen=True, slots=True)
class Call:
    """The request an operation serves, beyond its parameters."""

    request_id: str
    base_url: str  # scheme://host:port the client reached us at, for URLs we hand back
    caller: Caller


Params = dict[str, Any]
Result = dict[str, Any]
Operation = Callable[[Params, Call], Awaitable[Result]]


@dataclass(frozen=True, slots=True)
class Frontend:
    registry: FunctionRegistry
    layers: LayerRegistry
    code_store: CodeStore
    arns: Arns
    runtimes: Runtimes
    assignment: Assignment
    log_store: LogStore
    events: AsyncInvocations
    code_signing_configs: CodeSigningConfigRegistry
    signing_profiles: SigningProfileRegistry

    def configuration(self, config: FunctionConfig, qualifier: str | None = None, *, listed: bool = False) -> Result:
        """`config` as AWS renders a FunctionConfiguration, with its SnapStart snapshot's state."""
        snapshot = self.assignment.snapshot_status(config) if config.restores_from_snapshot else None
        return function_configuration(config, self.arns, qualifier, listed=listed, snapshot=snapshot)

    async def code_signing_config(
        self, arn: str, missing: type[ResourceNotFound] = ResourceNotFound
    ) -> CodeSigningConfigRecord:
        """The code signing configuration `arn` names; `missing` (an error type) when there is none."""
        config_id = code_signing_config_id(arn, self.arns)
        record = None if config_id is None else await self.code_signing_configs.get(config_id)
        if record is None:
            raise missing(f"Code signing configuration not found: {arn}")
        return record

    async def publish(
        self,
        name: str,
        description: str | None = None,
        expected_code_sha256: str | None = None,
        expected_revision_id: str | None = None,
    ) -> FunctionConfig:
        """Publish $LATEST of `name` as a version; a SnapStart version's snapshot starts being made."""
        published = await self.registry.publish_version(name, description, expected_code_sha256, expected_revision_id)
        if published.restores_from_snapshot:
            self.assignment.prepare_snapshot(published)
        return published

    async def forget_provisioned(self, name: str, qualifier: str) -> None:
        """The version or alias `qualifier` is gone: so is its provisioned concurrency."""
        await self.registry.delete_provisioned(name, qualifier)
        self.assignment.unprovision(name, qualifier)

    async def provision_stored(self) -> None:
        """At start-up: provision every stored provisioned concurrency configuration again."""
        for record in await self.registry.list_provisioned():
            try:
                config = await resolve_config(self.registry, record.function_name, record.qualifier)
            except ResourceNotFound:  # its version or alias went while the server was down mid-change
                await self.registry.delete_provisioned(record.function_name, record.qualifier)
                continue
            self.assignment.provision(record.qualifier, config, record.requested)
