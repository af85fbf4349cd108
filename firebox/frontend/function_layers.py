"""The `Layers` of CreateFunction and UpdateFunctionConfiguration: layer version ARNs checked as AWS checks
them and resolved to the content each function keeps a reference to."""

from __future__ import annotations

from firebox.errors import InvalidParameter
from firebox.frontend.names import layer_version
from firebox.store import Arns, LayerRef, LayerRegistry

MAX_LAYERS = 5  # AWS: per function


async def resolve_layers(layers: LayerRegistry, arns: Arns, requested: list[str]) -> tuple[LayerRef, ...]:
    if len(requested) > MAX_LAYERS:
        raise InvalidParameter(f"Cannot reference more than {MAX_LAYERS} layers.")
    seen: dict[str, str] = {}  # layer ARN -> the version ARN that named it
    resolved: list[LayerRef] = []
    for arn in requested:
        found = layer_version(arn, arns)
        record = None if found is None else await layers.get(*found)
        if record is None:
            raise InvalidParameter(f"Layer version {arn} does not exist.")
        layer_arn = arns.layer(record.name)
        if layer_arn in seen:
            raise InvalidParameter(
                "Two different versions of the same layer are not allowed to be referenced in the same function. "
                f"{seen[layer_arn]} and {arn} are versions of the same layer."
            )
        seen[layer_arn] = arn
        resolved.append(LayerRef(arn=arns.layer(record.name, record.version), content=record.content))
    return tuple(resolved)
