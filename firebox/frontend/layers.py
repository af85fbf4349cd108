"""Layers: PublishLayerVersion, GetLayerVersion, GetLayerVersionByArn, ListLayers, ListLayerVersions,
DeleteLayerVersion."""

from __future__ import annotations

from collections.abc import Iterable

from firebox.errors import InvalidParameter, ResourceNotFound
from firebox.frontend.code_upload import code_location, store_zip
from firebox.frontend.context import Call, Frontend, Operation, Params, Result
from firebox.frontend.names import layer_name, layer_version
from firebox.frontend.paging import page
from firebox.store import LayerVersionRecord

_NOT_FOUND = "The resource you requested does not exist."


def check_version_number(version: int) -> None:
    if version < 1:
        raise InvalidParameter("Layer Version Cannot be less than 1")


def _matching(
    versions: Iterable[LayerVersionRecord], runtime: str | None, architecture: str | None
) -> list[LayerVersionRecord]:
    """The versions that declare the runtime and the architecture asked for (all of them when none is)."""
    return [
        v
        for v in versions
        if (runtime is None or runtime in v.compatible_runtimes)
        and (architecture is None or architecture in v.compatible_architectures)
    ]


class Layers:
    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend

    def operations(self) -> dict[str, Operation]:
        return {
            "PublishLayerVersion": self.publish,
            "GetLayerVersion": self.get,
            "GetLayerVersionByArn": self.get_by_arn,
            "ListLayers": self.list_layers,
            "ListLayerVersions": self.list_versions,
            "DeleteLayerVersion": self.delete,
        }

    def _shape(self, record: LayerVersionRecord, call: Call) -> Result:
        """A layer version as GetLayerVersion renders it (a list item is the same without Content)."""
        shape: Result = {
            "LayerArn": self._f.arns.layer(record.name),
            "LayerVersionArn": self._f.arns.layer(record.name, record.version),
            "Version": record.version,
            "Description": record.description,
            "CreatedDate": record.created,
            "Content": {
                "Location": code_location(call.base_url, record.content),
                "CodeSha256": record.content.sha256_b64,
                "CodeSize": record.content.size,
            },
        }
        if record.compatible_runtimes:
            shape["CompatibleRuntimes"] = list(record.compatible_runtimes)
        if record.compatible_architectures:
            shape["CompatibleArchitectures"] = list(record.compatible_architectures)
        if record.license_info is not None:
            shape["LicenseInfo"] = record.license_info
        return shape

    async def publish(self, params: Params, call: Call) -> Result:
        name = layer_name(params["LayerName"], self._f.arns)
        if name is None:
            raise InvalidParameter(
                f"Layers can only be published in {self._f.arns.region}, account {self._f.arns.account_id}"
            )
        content = await store_zip(self._f.code_store, params["Content"].get("ZipFile"), "layer content")
        record = await self._f.layers.publish(
            name,
            content,
            description=params.get("Description", ""),
            license_info=params.get("LicenseInfo"),
            compatible_runtimes=tuple(params.get("CompatibleRuntimes", ())),
            compatible_architectures=tuple(params.get("CompatibleArchitectures", ())),
        )
        return self._shape(record, call)

    async def get(self, params: Params, call: Call) -> Result:
        check_version_number(params["VersionNumber"])
        name = layer_name(params["LayerName"], self._f.arns)
        record = None if name is None else await self._f.layers.get(name, params["VersionNumber"])
        if record is None:
            raise ResourceNotFound(_NOT_FOUND)
        return self._shape(record, call)

    async def get_by_arn(self, params: Params, call: Call) -> Result:
        found = layer_version(params["Arn"], self._f.arns)
        record = None if found is None else await self._f.layers.get(*found)
        if record is None:
            raise ResourceNotFound(_NOT_FOUND)
        return self._shape(record, call)

    async def list_layers(self, params: Params, call: Call) -> Result:
        """Each layer with its newest version that matches the filters; layers with none are left out."""
        runtime, architecture = params.get("CompatibleRuntime"), params.get("CompatibleArchitecture")
        items: list[Result] = []
        for name in await self._f.layers.names():
            matching = _matching(await self._f.layers.versions(name), runtime, architecture)
            if matching:
                items.append(
                    {
                        "LayerName": name,
                        "LayerArn": self._f.arns.layer(name),
                        "LatestMatchingVersion": self._shape(matching[-1], call),
                    }
                )
        chunk, next_marker = page(items, params.get("Marker"), params.get("MaxItems"))
        result: Result = {"Layers": chunk}
        if next_marker is not None:
            result["NextMarker"] = next_marker
        return result

    async def list_versions(self, params: Params, call: Call) -> Result:
        """The layer's versions that match the filters, newest first (an unknown layer has none)."""
        name = layer_name(params["LayerName"], self._f.arns)
        versions = [] if name is None else await self._f.layers.versions(name)
        matching = _matching(reversed(versions), params.get("CompatibleRuntime"), params.get("CompatibleArchitecture"))
        chunk, next_marker = page(matching, params.get("Marker"), params.get("MaxItems"))
        result: Result = {"LayerVersions": [self._shape(v, call) for v in chunk]}
        if next_marker is not None:
            result["NextMarker"] = next_marker
        return result

    async def delete(self, params: Params, call: Call) -> Result:
        """Deleting a version that is not there succeeds, as on AWS. Functions using it keep its content."""
        check_version_number(params["VersionNumber"])
        name = layer_name(params["LayerName"], self._f.arns)
        if name is not None:
            await self._f.layers.delete(name, params["VersionNumber"])
        return {}
