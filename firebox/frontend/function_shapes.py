"""FunctionConfiguration as AWS renders it, from a stored FunctionConfig."""

from __future__ import annotations

from typing import Any

from firebox.store import Arns, CodeSignature, FunctionConfig
from firebox.worker import SnapshotStatus

# What a function's configuration shows only when fetched alone, never in a list (as AWS does).
_NOT_LISTED = ("State", "StateReason", "StateReasonCode", "LastUpdateStatus")


def function_configuration(
    config: FunctionConfig,
    arns: Arns,
    qualifier: str | None = None,
    *,
    listed: bool = False,
    snapshot: SnapshotStatus | None = None,
) -> dict[str, Any]:
    """`qualifier` is how the caller named this version ($LATEST, a number or an alias): AWS then qualifies
    the ARN with it. Unnamed, $LATEST has the plain function ARN and a published version its number.
    A SnapStart version's State is its `snapshot`'s."""
    if qualifier is None and not config.is_latest:
        qualifier = config.version
    shape: dict[str, Any] = {
        "FunctionName": config.name,
        "FunctionArn": arns.function(config.name, qualifier),
        "Runtime": config.runtime,
        "Role": config.role,
        "Handler": config.handler,
        "CodeSize": config.code.size,
        "Description": config.description,
        "Timeout": config.timeout,
        "MemorySize": config.memory_size,
        "LastModified": config.last_modified,
        "CodeSha256": config.code.sha256_b64,
        "Version": config.version,
        "TracingConfig": {"Mode": config.tracing_mode},
        "RevisionId": config.revision_id,
        # Without SnapStart, Firebox prepares nothing ahead of the first invocation: a function is ready once
        # it is stored.
        "State": snapshot.state.value if snapshot is not None else "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": list(config.architectures),
        "EphemeralStorage": {"Size": config.ephemeral_storage},
        "SnapStart": {
            "ApplyOn": config.snap_start,
            "OptimizationStatus": "On" if config.restores_from_snapshot else "Off",
        },
        "LoggingConfig": {"LogFormat": config.log_format, "LogGroup": config.log_group_name},
    }
    if snapshot is not None and snapshot.reason is not None:
        shape["StateReason"] = snapshot.reason
        shape["StateReasonCode"] = snapshot.reason_code
    if config.dead_letter_target:
        shape["DeadLetterConfig"] = {"TargetArn": config.dead_letter_target}
    shape.update(_signed_by(config.code_signature))
    if config.layers:
        shape["Layers"] = [
            {"Arn": layer.arn, "CodeSize": layer.content.size, **_signed_by(layer.code_signature)}
            for layer in config.layers
        ]
    if config.environment:
        shape["Environment"] = {"Variables": dict(config.environment)}
    if config.kms_key_arn:
        shape["KMSKeyArn"] = config.kms_key_arn
    if listed:
        for field in _NOT_LISTED:
            shape.pop(field, None)
    return shape


def _signed_by(signature: CodeSignature | None) -> dict[str, str]:
    """Who signed a package, shown when it was verified at deployment (under a code signing configuration)."""
    if signature is None:
        return {}
    return {"SigningProfileVersionArn": signature.profile_version_arn, "SigningJobArn": signature.job_arn}
