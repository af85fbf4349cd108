"""Code signing configurations: CreateCodeSigningConfig, GetCodeSigningConfig, UpdateCodeSigningConfig,
DeleteCodeSigningConfig, ListCodeSigningConfigs, ListFunctionsByCodeSigningConfig.

A configuration names the signing profile versions (`firebox signing-profile create`) whose signatures a
function's code must carry, and whether untrusted code is refused (Enforce) or deployed with a warning
(Warn, the default). `code_verification.py` applies it at deployment.
"""

from __future__ import annotations

from typing import Any

import msgspec

from firebox.code_signature import PROFILE_VERSION_ARN
from firebox.errors import InvalidParameter, ResourceConflict
from firebox.frontend.context import Call, Frontend, Operation, Params, Result
from firebox.frontend.paging import page
from firebox.frontend.tags import check_new_tags
from firebox.store import CodeSigningConfigRecord, now_last_modified


def _publishers(allowed: dict[str, Any]) -> tuple[str, ...]:
    """AllowedPublishers' signing profile versions (the model checked there are 1 to 20 ARNs)."""
    arns: list[str] = allowed["SigningProfileVersionArns"]
    for arn in arns:
        if PROFILE_VERSION_ARN.match(arn) is None:
            raise InvalidParameter(
                f"{arn} is not a signing profile version ARN (arn:aws:signer:REGION:ACCOUNT:/signing-profiles/NAME/"
                "VERSION)"
            )
    return tuple(dict.fromkeys(arns))  # a publisher named twice is one publisher


def _policy(policies: dict[str, Any]) -> str:
    return str(policies.get("UntrustedArtifactOnDeployment", "Warn"))


class CodeSigningConfigs:
    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend

    def operations(self) -> dict[str, Operation]:
        return {
            "CreateCodeSigningConfig": self.create,
            "GetCodeSigningConfig": self.get,
            "UpdateCodeSigningConfig": self.update,
            "DeleteCodeSigningConfig": self.delete,
            "ListCodeSigningConfigs": self.list,
            "ListFunctionsByCodeSigningConfig": self.list_functions,
        }

    def _shape(self, record: CodeSigningConfigRecord) -> Result:
        return {
            "CodeSigningConfigId": record.config_id,
            "CodeSigningConfigArn": self._f.arns.code_signing_config(record.config_id),
            "Description": record.description,
            "AllowedPublishers": {"SigningProfileVersionArns": list(record.allowed_publishers)},
            "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": record.untrusted_artifact_on_deployment},
            "LastModified": record.last_modified,
        }

    async def create(self, params: Params, call: Call) -> Result:
        record = await self._f.code_signing_configs.create(
            _publishers(params["AllowedPublishers"]),
            _policy(params.get("CodeSigningPolicies", {})),
            params.get("Description", ""),
            check_new_tags(params.get("Tags", {})),
        )
        return {"CodeSigningConfig": self._shape(record)}

    async def get(self, params: Params, call: Call) -> Result:
        return {"CodeSigningConfig": self._shape(await self._f.code_signing_config(params["CodeSigningConfigArn"]))}

    async def update(self, params: Params, call: Call) -> Result:
        current = await self._f.code_signing_config(params["CodeSigningConfigArn"])
        fields: dict[str, Any] = {"last_modified": now_last_modified()}
        if "AllowedPublishers" in params:
            fields["allowed_publishers"] = _publishers(params["AllowedPublishers"])
        if "CodeSigningPolicies" in params:
            fields["untrusted_artifact_on_deployment"] = _policy(params["CodeSigningPolicies"])
        if "Description" in params:
            fields["description"] = params["Description"]
        record = await self._f.code_signing_configs.change(
            current.config_id, lambda record: msgspec.structs.replace(record, **fields)
        )
        return {"CodeSigningConfig": self._shape(record)}

    async def delete(self, params: Params, call: Call) -> Result:
        """Refused while a function uses the configuration, as on AWS."""
        record = await self._f.code_signing_config(params["CodeSigningConfigArn"])
        users = await self._f.registry.functions_with_code_signing_config(record.config_id)
        if users:
            raise ResourceConflict(
                "The code signing configuration cannot be deleted because it is used by the following functions: "
                + ", ".join(self._f.arns.function(name) for name in users)
            )
        await self._f.code_signing_configs.delete(record.config_id)
        return {}

    async def list(self, params: Params, call: Call) -> Result:
        limit = params.get("MaxItems", 50)
        records, next_marker = await self._f.code_signing_configs.list(params.get("Marker", ""), limit)
        result: Result = {"CodeSigningConfigs": [self._shape(record) for record in records]}
        if next_marker is not None:
            result["NextMarker"] = next_marker
        return result

    async def list_functions(self, params: Params, call: Call) -> Result:
        record = await self._f.code_signing_config(params["CodeSigningConfigArn"])
        names = await self._f.registry.functions_with_code_signing_config(record.config_id)
        chunk, next_marker = page(names, params.get("Marker"), params.get("MaxItems"))
        result: Result = {"FunctionArns": [self._f.arns.function(name) for name in chunk]}
        if next_marker is not None:
            result["NextMarker"] = next_marker
        return result
