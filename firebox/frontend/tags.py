"""TagResource, UntagResource and ListTags, on functions and code signing configurations (the taggable
resources Firebox has)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from firebox.errors import InvalidParameter, ResourceNotFound
from firebox.frontend.context import Call, Frontend, Operation, Params, Result
from firebox.frontend.names import split_function_name
from firebox.store import CodeSigningConfigRecord

MAX_TAGS = 50  # AWS: per resource
_RESERVED_PREFIX = "aws:"
_CODE_SIGNING_CONFIG = ":code-signing-config:"

TagChange = Callable[[dict[str, str]], dict[str, str]]


def check_new_tags(tags: dict[str, str], existing: dict[str, str] | None = None) -> dict[str, str]:
    """`existing` with `tags` added, if AWS would allow the result."""
    reserved = sorted(key for key in tags if key.lower().startswith(_RESERVED_PREFIX))
    if reserved:
        raise InvalidParameter(f"Tag keys starting with {_RESERVED_PREFIX} are reserved for AWS: {', '.join(reserved)}")
    merged = {**(existing or {}), **tags}
    if len(merged) > MAX_TAGS:
        raise InvalidParameter(f"A resource can have at most {MAX_TAGS} tags; this would give it {len(merged)}")
    return merged


class Tags:
    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend

    def operations(self) -> dict[str, Operation]:
        return {"TagResource": self.tag, "UntagResource": self.untag, "ListTags": self.list}

    def _function(self, arn: str) -> str:
        """The function an ARN names; tags belong to a function, never to one of its versions or aliases."""
        if ":function:" not in arn:
            raise ResourceNotFound(f"Firebox has no taggable resource {arn}")
        name, qualifier = split_function_name(arn)
        if qualifier is not None:
            raise InvalidParameter(f"Tags apply to a function, not to a version or alias: {arn}")
        if arn != self._f.arns.function(name):
            raise ResourceNotFound(f"Function not found: {arn}")  # another region's or account's
        return name

    async def _change(self, arn: str, change: TagChange) -> None:
        if _CODE_SIGNING_CONFIG not in arn:
            await self._f.registry.change_tags(self._function(arn), change)
            return

        def change_config(record: CodeSigningConfigRecord) -> CodeSigningConfigRecord:
            return msgspec.structs.replace(record, tags=change(record.tags))

        config = await self._f.code_signing_config(arn)
        await self._f.code_signing_configs.change(config.config_id, change_config)

    async def tag(self, params: Params, call: Call) -> Result:
        await self._change(params["Resource"], lambda tags: check_new_tags(params["Tags"], tags))
        return {}

    async def untag(self, params: Params, call: Call) -> Result:
        gone = set(params["TagKeys"])
        await self._change(params["Resource"], lambda tags: {k: v for k, v in tags.items() if k not in gone})
        return {}

    async def list(self, params: Params, call: Call) -> Result:
        arn = params["Resource"]
        if _CODE_SIGNING_CONFIG not in arn:
            return {"Tags": dict((await self._f.registry.get_function(self._function(arn))).tags)}
        return {"Tags": dict((await self._f.code_signing_config(arn)).tags)}
