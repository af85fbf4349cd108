"""TagResource, UntagResource and ListTags, on functions (the only taggable resource Firebox has)."""

from __future__ import annotations

from firebox.errors import InvalidParameter, ResourceNotFound
from firebox.frontend.context import Call, Frontend, Operation, Params, Result
from firebox.frontend.names import split_function_name

MAX_TAGS = 50  # AWS: per resource
_RESERVED_PREFIX = "aws:"


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

    async def tag(self, params: Params, call: Call) -> Result:
        name = self._function(params["Resource"])
        await self._f.registry.change_tags(name, lambda tags: check_new_tags(params["Tags"], tags))
        return {}

    async def untag(self, params: Params, call: Call) -> Result:
        name = self._function(params["Resource"])
        gone = set(params["TagKeys"])
        await self._f.registry.change_tags(name, lambda tags: {k: v for k, v in tags.items() if k not in gone})
        return {}

    async def list(self, params: Params, call: Call) -> Result:
        name = self._function(params["Resource"])
        return {"Tags": dict((await self._f.registry.get_function(name)).tags)}
