"""Versions: PublishVersion, ListVersionsByFunction."""

from __future__ import annotations

from firebox.errors import InvalidParameter
from firebox.frontend.context import Call, Frontend, Operation, Params, Result
from firebox.frontend.names import unqualified_name
from firebox.frontend.paging import page


class Versions:
    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend

    def operations(self) -> dict[str, Operation]:
        return {"PublishVersion": self.publish, "ListVersionsByFunction": self.list}

    async def publish(self, params: Params, call: Call) -> Result:
        if params.get("PublishTo") is not None:
            raise InvalidParameter("Publishing to LATEST_PUBLISHED is not supported by Firebox")
        published = await self._f.publish(
            unqualified_name(params["FunctionName"]),
            description=params.get("Description"),
            expected_code_sha256=params.get("CodeSha256"),
            expected_revision_id=params.get("RevisionId"),
        )
        return self._f.configuration(published)

    async def list(self, params: Params, call: Call) -> Result:
        versions = await self._f.registry.list_versions(unqualified_name(params["FunctionName"]))
        chunk, next_marker = page(versions, params.get("Marker"), params.get("MaxItems"))
        # Listed versions, $LATEST included, carry qualified ARNs.
        result: Result = {"Versions": [self._f.configuration(v, v.version, listed=True) for v in chunk]}
        if next_marker is not None:
            result["NextMarker"] = next_marker
        return result
