"""Function records as the state store keeps them: each version's environment variables sealed.

Only here do sealed variables exist; a record read through the codec has them in the clear again, for the
frontend to show and the worker to put in the sandbox's environment.
"""

from __future__ import annotations

import msgspec

from firebox.store.records import FunctionConfig, FunctionRecord, decode_function, decode_version, encode
from firebox.store.sealing import Sealer

_decode_variables = msgspec.json.Decoder(dict[str, str]).decode


class FunctionCodec:
    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer

    def encode_function(self, record: FunctionRecord) -> bytes:
        return encode(msgspec.structs.replace(record, latest=self._sealed(record.latest)))

    def decode_function(self, value: bytes) -> FunctionRecord:
        record = decode_function(value)
        return msgspec.structs.replace(record, latest=self._opened(record.latest))

    def encode_version(self, config: FunctionConfig) -> bytes:
        return encode(self._sealed(config))

    def decode_version(self, value: bytes) -> FunctionConfig:
        return self._opened(decode_version(value))

    def _sealed(self, config: FunctionConfig) -> FunctionConfig:
        if not config.environment:
            return config
        sealed = self._sealer.seal(msgspec.json.encode(config.environment), _context(config))
        return msgspec.structs.replace(config, environment={}, sealed_environment=sealed)

    def _opened(self, config: FunctionConfig) -> FunctionConfig:
        if config.sealed_environment is None:
            return config  # none to open, or one kept in the clear before sealing existed (until it is sealed)
        variables = _decode_variables(self._sealer.open(config.sealed_environment, _context(config)))
        return msgspec.structs.replace(config, environment=variables, sealed_environment=None)


def is_unsealed(config: FunctionConfig) -> bool:
    """A version written before Firebox sealed environment variables, with variables in the clear."""
    return bool(config.environment) and config.sealed_environment is None


def _context(config: FunctionConfig) -> str:
    # Bound to the version: sealed variables copied into another function's record do not open there.
    return f"environment of {config.name}:{config.version}"
