"""Functions, versions and aliases: the control-plane state, kept as records in a StateStore.

Layout of keys: `fn/NAME` holds the function ($LATEST and the next version number), `ver/NAME/0000000007`
each immutable published version, `alias/NAME/ALIAS` each alias, `pc/NAME/QUALIFIER` each provisioned
concurrency configuration, `eic/NAME/QUALIFIER` each asynchronous invocation configuration, `policy/NAME` the
function's resource policy. A version or
alias exists while its key and its function's key both do, so deleting the function key alone deletes the
whole function.
`next_version` is only the starting guess for the next number, so a crash between the two writes of a
publish costs nothing but a retry.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar, cast

import msgspec

from firebox.errors import InvalidParameter, ResourceConflict, ResourceNotFound, RevisionMismatch
from firebox.store.arns import Arns
from firebox.store.base import Entry, KeyExists, RevisionConflict, StateStore
from firebox.store.function_codec import FunctionCodec, is_unsealed
from firebox.store.records import (
    LATEST,
    AliasRecord,
    EventInvokeConfigRecord,
    FunctionConfig,
    FunctionRecord,
    PolicyStatement,
    ProvisionedRecord,
    ResourcePolicyRecord,
    decode_alias,
    decode_event_invoke_config,
    decode_function,
    decode_provisioned,
    decode_resource_policy,
    decode_version,
    encode,
)

_CAS_ATTEMPTS = 16  # concurrent writers to one function retry this often before giving up
_Record = TypeVar("_Record")
_DECODED_RECORDS = 4096  # past this many, the memo of decoded function records starts again empty


def new_revision_id() -> str:
    return str(uuid.uuid4())


def now_last_modified() -> str:
    """LastModified as Lambda formats it: 2026-11-23T15:04:05.123+0000."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def _function_key(name: str) -> str:
    return f"fn/{name}"


def _version_key(name: str, version: int) -> str:
    return f"ver/{name}/{version:010d}"


def _provisioned_key(name: str, qualifier: str) -> str:
    return f"pc/{name}/{qualifier}"


def _event_invoke_config_key(name: str, qualifier: str) -> str:
    return f"eic/{name}/{qualifier}"


def _policy_key(name: str) -> str:
    return f"policy/{name}"


def _alias_key(name: str, alias: str) -> str:
    return f"alias/{name}/{alias}"


def _same_deployment(a: FunctionConfig, b: FunctionConfig) -> bool:
    """Whether two configurations would run identically (what PublishVersion compares)."""
    volatile = {"version": LATEST, "revision_id": "", "last_modified": "", "description": ""}
    return msgspec.structs.replace(a, **volatile) == msgspec.structs.replace(b, **volatile)


class FunctionRegistry:
    def __init__(self, store: StateStore, arns: Arns, codec: FunctionCodec) -> None:
        self._store = store
        self._arns = arns
        self._codec = codec
        # The record last decoded from each function's entry: a store that hands out the same entry again
        # (the SQLite store's cache does) spares Invoke the decoding.
        self._decoded: dict[str, tuple[Entry, object]] = {}

    # -- functions ----------------------------------------------------------------------------------

    async def create_function(
        self,
        config: FunctionConfig,
        tags: dict[str, str] | None = None,
        owner: str = "",
        code_signing_config: str | None = None,
    ) -> FunctionConfig:
        await self._forget_leftovers(config.name)
        record = FunctionRecord(latest=config, tags=tags or {}, owner=owner, code_signing_config=code_signing_config)
        try:
            await self._store.create(_function_key(config.name), self._codec.encode_function(record))
        except KeyExists as exc:
            raise ResourceConflict(f"Function already exist: {config.name}") from exc
        return config

    async def _read_function(self, name: str) -> tuple[Entry, FunctionRecord]:
        entry = await self._store.get(_function_key(name))
        if entry is None:
            raise ResourceNotFound(f"Function not found: {self._arns.function(name)}")
        return entry, self._decode(entry, self._codec.decode_function)

    def _decode(self, entry: Entry, decode: Callable[[bytes], _Record]) -> _Record:
        """`decode(entry.value)`, or what it gave for this very entry before."""
        known = self._decoded.get(entry.key)
        if known is not None and known[0] is entry:
            return cast(_Record, known[1])
        if len(self._decoded) >= _DECODED_RECORDS:
            self._decoded.clear()
        record = decode(entry.value)
        self._decoded[entry.key] = (entry, record)
        return record

    async def get_function(self, name: str) -> FunctionRecord:
        return (await self._read_function(name))[1]

    async def get_config(self, name: str, version: str) -> FunctionConfig:
        record = await self.get_function(name)  # versions a crashed delete left behind are not found
        if version == LATEST:
            return record.latest
        number = published_number(version)
        entry = None if number is None else await self._store.get(_version_key(name, number))
        if entry is None:
            raise ResourceNotFound(f"Function not found: {self._arns.function(name, version)}")
        return self._decode(entry, self._codec.decode_version)

    async def update_latest(
        self,
        name: str,
        change: Callable[[FunctionConfig], FunctionConfig],
        expected_revision_id: str | None = None,
    ) -> FunctionConfig:
        """Apply `change` to $LATEST; it gets a new RevisionId and LastModified."""

        def change_latest(record: FunctionRecord) -> FunctionRecord:
            _check_revision(record.latest.revision_id, expected_revision_id, "GetFunction")
            latest = msgspec.structs.replace(
                change(record.latest), revision_id=new_revision_id(), last_modified=now_last_modified()
            )
            return msgspec.structs.replace(record, latest=latest)

        return (await self._change_function(name, change_latest)).latest

    async def set_reserved_concurrency(self, name: str, reserved: int | None) -> None:
        """Reserve `reserved` concurrent executions for `name` (None: reserve nothing)."""
        await self._change_function(name, lambda record: msgspec.structs.replace(record, reserved_concurrency=reserved))

    async def change_tags(self, name: str, change: Callable[[dict[str, str]], dict[str, str]]) -> dict[str, str]:
        """Replace the tags of `name` with what `change` makes of them; returns the new tags."""
        changed = await self._change_function(
            name, lambda record: msgspec.structs.replace(record, tags=change(record.tags))
        )
        return changed.tags

    async def set_code_signing_config(self, name: str, config_id: str | None) -> None:
        """Have the function's deployments checked against the code signing configuration `config_id` (None:
        no longer checked)."""
        await self._change_function(name, lambda record: msgspec.structs.replace(record, code_signing_config=config_id))

    async def functions_with_code_signing_config(self, config_id: str) -> list[str]:
        """The names of the functions that use the code signing configuration, in order."""
        records = (decode_function(entry.value) for entry in await self._store.scan("fn/"))
        return [r.latest.name for r in records if r.code_signing_config == config_id]

    async def _change_function(self, name: str, change: Callable[[FunctionRecord], FunctionRecord]) -> FunctionRecord:
        """Store `change(record)` for the function, retrying when a concurrent writer got there first."""
        for _ in range(_CAS_ATTEMPTS):
            entry, record = await self._read_function(name)
            changed = change(record)
            try:
                await self._store.update(entry.key, self._codec.encode_function(changed), entry.revision)
            except RevisionConflict:
                continue
            return changed
        raise ResourceConflict(f"The function {name} is being changed by another request. Try again.")

    async def reserved_concurrency(self) -> dict[str, int]:
        """Every function's reserved concurrency, for those that reserve any."""
        records = (self._codec.decode_function(entry.value) for entry in await self._store.scan("fn/"))
        return {r.latest.name: r.reserved_concurrency for r in records if r.reserved_concurrency is not None}

    async def delete_function(self, name: str) -> None:
        # The function key goes first: from then on its versions and aliases are not found, and a crash
        # before they are gone too leaves leftovers that the next CreateFunction of the name clears.
        if not await self._store.delete(_function_key(name)):
            raise ResourceNotFound(f"Function not found: {self._arns.function(name)}")
        await self._forget_leftovers(name)

    async def list_functions(self, marker: str, limit: int) -> tuple[list[FunctionConfig], str | None]:
        entries = await self._store.scan("fn/", start_after=_function_key(marker) if marker else "", limit=limit + 1)
        configs = [self._codec.decode_function(entry.value).latest for entry in entries[:limit]]
        more = len(entries) > limit
        return configs, (configs[-1].name if more and configs else None)

    async def _forget_leftovers(self, name: str) -> None:
        """Remove the versions and aliases of a function that no longer exists: DeleteFunction's second
        step, or what a crash in the middle of it left behind."""
        if await self._store.get(_function_key(name)) is not None:
            return
        for prefix in (f"alias/{name}/", f"ver/{name}/", f"pc/{name}/", f"eic/{name}/"):
            for entry in await self._store.scan(prefix):
                await self._store.delete(entry.key)
        await self._store.delete(_policy_key(name))

    # -- versions -----------------------------------------------------------------------------------

    async def publish_version(
        self,
        name: str,
        description: str | None = None,
        expected_code_sha256: str | None = None,
        expected_revision_id: str | None = None,
    ) -> FunctionConfig:
        for _ in range(_CAS_ATTEMPTS):
            entry, record = await self._read_function(name)
            latest = record.latest
            _check_revision(latest.revision_id, expected_revision_id, "GetFunction")
            if expected_code_sha256 is not None and expected_code_sha256 != latest.code.sha256_b64:
                raise InvalidParameter(
                    f"CodeSha256 ({expected_code_sha256}) is different from current CodeSha256 in $LATEST "
                    f"({latest.code.sha256_b64}). Please try again with the CodeSha256 in $LATEST."
                )
            newest = await self._store.scan(f"ver/{name}/")
            if newest:
                last = self._codec.decode_version(newest[-1].value)
                if _same_deployment(last, latest):
                    return last
            number = max(record.next_version, int(last.version) + 1 if newest else 1)
            published = msgspec.structs.replace(
                latest,
                version=str(number),
                revision_id=new_revision_id(),
                last_modified=now_last_modified(),
                description=latest.description if description is None else description,
            )
            try:
                await self._store.create(_version_key(name, number), self._codec.encode_version(published))
            except KeyExists:
                continue
            bumped = msgspec.structs.replace(record, next_version=number + 1)
            try:
                await self._store.update(entry.key, self._codec.encode_function(bumped), entry.revision)
            except RevisionConflict:
                # $LATEST changed while we published: the version we wrote may not match it any more.
                await self._store.delete(_version_key(name, number))
                continue
            return published
        raise ResourceConflict(f"The function {name} is being changed by another request. Try again.")

    async def list_versions(self, name: str) -> list[FunctionConfig]:
        """$LATEST first, then every published version in order."""
        record = await self.get_function(name)
        versions = await self._store.scan(f"ver/{name}/")
        return [record.latest, *(self._codec.decode_version(e.value) for e in versions)]

    async def all_published_versions(self) -> list[FunctionConfig]:
        """Every published version of every function (for what the server rebuilds when it starts)."""
        return [self._codec.decode_version(entry.value) for entry in await self._store.scan("ver/")]

    async def seal_unsealed_environments(self) -> int:
        """Seal the environment variables of versions written before Firebox sealed them; how many it did."""
        sealed = 0
        for entry in await self._store.scan("fn/"):
            record = decode_function(entry.value)
            if is_unsealed(record.latest):
                await self._store.update(entry.key, self._codec.encode_function(record), entry.revision)
                sealed += 1
        for entry in await self._store.scan("ver/"):
            config = decode_version(entry.value)
            if is_unsealed(config):
                await self._store.update(entry.key, self._codec.encode_version(config), entry.revision)
                sealed += 1
        return sealed

    async def delete_version(self, name: str, version: str) -> None:
        await self.get_config(name, version)
        aliases = await self.list_aliases(name)
        users = [a.name for a in aliases if version in (a.function_version, *a.additional_weights)]
        if users:
            raise ResourceConflict(
                f"Unable to delete version {version} of function {name}: aliases reference it: {', '.join(users)}"
            )
        await self._store.delete(_version_key(name, int(version)))

    # -- aliases ------------------------------------------------------------------------------------

    async def create_alias(self, alias: AliasRecord) -> AliasRecord:
        await self._check_alias_targets(alias)
        try:
            await self._store.create(_alias_key(alias.function_name, alias.name), encode(alias))
        except KeyExists as exc:
            raise ResourceConflict(
                f"Alias already exists: {self._arns.function(alias.function_name, alias.name)}"
            ) from exc
        return alias

    async def get_alias(self, name: str, alias: str) -> AliasRecord:
        await self.get_function(name)  # aliases a crashed delete left behind are not found
        entry = await self._store.get(_alias_key(name, alias))
        if entry is None:
            raise ResourceNotFound(f"Cannot find alias arn: {self._arns.function(name, alias)}")
        return self._decode(entry, decode_alias)

    async def update_alias(
        self,
        name: str,
        alias: str,
        change: Callable[[AliasRecord], AliasRecord],
        expected_revision_id: str | None = None,
    ) -> AliasRecord:
        await self.get_function(name)
        for _ in range(_CAS_ATTEMPTS):
            entry = await self._store.get(_alias_key(name, alias))
            if entry is None:
                raise ResourceNotFound(f"Cannot find alias arn: {self._arns.function(name, alias)}")
            current = decode_alias(entry.value)
            _check_revision(current.revision_id, expected_revision_id, "GetAlias")
            updated = msgspec.structs.replace(change(current), revision_id=new_revision_id())
            await self._check_alias_targets(updated)
            try:
                await self._store.update(entry.key, encode(updated), entry.revision)
            except RevisionConflict:
                continue
            return updated
        raise ResourceConflict(f"The alias {alias} is being changed by another request. Try again.")

    async def delete_alias(self, name: str, alias: str) -> None:
        await self.get_function(name)
        await self._store.delete(_alias_key(name, alias))

    async def list_aliases(self, name: str) -> list[AliasRecord]:
        await self.get_function(name)
        return [decode_alias(e.value) for e in await self._store.scan(f"alias/{name}/")]

    async def _check_alias_targets(self, alias: AliasRecord) -> None:
        await self.get_config(alias.function_name, alias.function_version)
        if len(alias.additional_weights) > 1:
            raise InvalidParameter("An alias can route to at most one version besides its own")
        for version, weight in alias.additional_weights.items():
            if version == LATEST or alias.function_version == LATEST:
                raise InvalidParameter("$LATEST is not supported for an alias pointing to more than 1 version")
            if version == alias.function_version:
                raise InvalidParameter(
                    f"Invalid function version {version}: the alias already routes to it as its primary version"
                )
            if not 0.0 <= weight <= 1.0:
                raise InvalidParameter(f"Routing weight {weight} for version {version} must be between 0.0 and 1.0")
            await self.get_config(alias.function_name, version)

    # -- provisioned concurrency --------------------------------------------------------------------------

    async def put_provisioned(self, record: ProvisionedRecord) -> None:
        await self._put(record.function_name, _provisioned_key(record.function_name, record.qualifier), encode(record))

    async def _put(self, name: str, key: str, value: bytes) -> None:
        """Create or replace `key`, a setting of the function `name` (which must exist)."""
        await self.get_function(name)
        entry = await self._store.get(key)
        if entry is None:
            try:
                await self._store.create(key, value)
                return
            except KeyExists:
                entry = await self._store.get(key)
        if entry is not None:
            try:
                await self._store.update(key, value, entry.revision)
                return
            except RevisionConflict:
                pass
        raise ResourceConflict(f"The function {name} is being changed by another request. Try again.")

    async def get_provisioned(self, name: str, qualifier: str) -> ProvisionedRecord | None:
        await self.get_function(name)
        entry = await self._store.get(_provisioned_key(name, qualifier))
        return decode_provisioned(entry.value) if entry is not None else None

    async def delete_provisioned(self, name: str, qualifier: str) -> bool:
        return await self._store.delete(_provisioned_key(name, qualifier))

    async def list_provisioned(self, name: str | None = None) -> list[ProvisionedRecord]:
        """The configurations of `name`, or of every function."""
        if name is not None:
            await self.get_function(name)
        return [decode_provisioned(e.value) for e in await self._store.scan(f"pc/{name}/" if name else "pc/")]

    # -- asynchronous invocation ----------------------------------------------------------------------------

    async def put_event_invoke_config(self, record: EventInvokeConfigRecord) -> None:
        key = _event_invoke_config_key(record.function_name, record.qualifier)
        await self._put(record.function_name, key, encode(record))

    async def get_event_invoke_config(self, name: str, qualifier: str) -> EventInvokeConfigRecord | None:
        entry = await self._store.get(_event_invoke_config_key(name, qualifier))
        return self._decode(entry, decode_event_invoke_config) if entry is not None else None

    async def delete_event_invoke_config(self, name: str, qualifier: str) -> bool:
        return await self._store.delete(_event_invoke_config_key(name, qualifier))

    async def list_event_invoke_configs(self, name: str) -> list[EventInvokeConfigRecord]:
        await self.get_function(name)
        return [decode_event_invoke_config(e.value) for e in await self._store.scan(f"eic/{name}/")]

    # -- resource policies ----------------------------------------------------------------------------------

    async def resource_policy(self, name: str) -> ResourcePolicyRecord | None:
        """The function's resource policy; None when it has no statement (or the function is gone)."""
        entry = await self._store.get(_policy_key(name))
        return self._decode(entry, decode_resource_policy) if entry is not None else None

    async def change_resource_policy(
        self,
        name: str,
        change: Callable[[tuple[PolicyStatement, ...]], tuple[PolicyStatement, ...]],
        expected_revision_id: str | None = None,
    ) -> ResourcePolicyRecord:
        """Store what `change` makes of the function's statements, under a new RevisionId."""
        await self.get_function(name)
        key = _policy_key(name)
        for _ in range(_CAS_ATTEMPTS):
            entry = await self._store.get(key)
            current = decode_resource_policy(entry.value) if entry is not None else ResourcePolicyRecord((), "")
            _check_revision(current.revision_id, expected_revision_id, "GetPolicy")
            changed = ResourcePolicyRecord(change(current.statements), new_revision_id())
            try:
                if entry is None:
                    await self._store.create(key, encode(changed))
                elif changed.statements:
                    await self._store.update(key, encode(changed), entry.revision)
                else:
                    await self._store.delete(key, entry.revision)
            except (KeyExists, RevisionConflict):
                continue
            return changed
        raise ResourceConflict(f"The function {name} is being changed by another request. Try again.")


def published_number(version: str) -> int | None:
    """The number of a published version as Lambda spells it (1, 2, ... no sign, no leading zero), or None."""
    if not (version.isascii() and version.isdigit()) or version.startswith("0"):
        return None
    return int(version)


def _check_revision(current: str, expected: str | None, getter: str) -> None:
    if expected is not None and expected != current:
        raise RevisionMismatch(
            "The Revision Id provided does not match the latest Revision Id. "
            f"Call the {getter} API to retrieve the latest Revision Id"
        )
