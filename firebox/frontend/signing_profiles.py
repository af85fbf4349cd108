"""Signing profiles: the `/firebox/signing-profiles` API that `firebox signing-profile` uses to register,
list and revoke the keys that sign deployment packages.

A signing profile version is the public half of an Ed25519 key pair. `firebox signing-profile create` makes
the pair where the user runs it, keeps the private key in a file of the user's and sends only the public
key: the server can check signatures, never make them. Callers need AWS Signer's actions
(`signer:PutSigningProfile`, `signer:ListSigningProfiles`, `signer:RevokeSigningProfile`), which a key made
without a policy does not have; the administrator's does.
"""

from __future__ import annotations

import msgspec
from aiohttp import web
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from firebox.code_signature import PROFILE_NAME
from firebox.errors import InvalidParameter, ResourceNotFound
from firebox.frontend.authentication import Caller
from firebox.store import Arns, SigningProfileRecord, SigningProfileRegistry


class _NewProfileVersion(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ProfileName: str
    PublicKey: str  # PEM (SubjectPublicKeyInfo) of an Ed25519 key


class ProfileVersion(msgspec.Struct, frozen=True):
    ProfileName: str
    ProfileVersion: str
    ProfileVersionArn: str
    Status: str  # Active or Revoked, as AWS Signer words it
    Created: float


_decode_new = msgspec.json.Decoder(_NewProfileVersion).decode


def _raw_public_key(pem: str) -> bytes:
    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidParameter(f"PublicKey is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidParameter("PublicKey must be an Ed25519 key")
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class SigningProfilesApi:
    def __init__(self, profiles: SigningProfileRegistry, arns: Arns) -> None:
        self._profiles = profiles
        self._arns = arns

    def _shown(self, record: SigningProfileRecord) -> ProfileVersion:
        return ProfileVersion(
            record.name,
            record.version,
            self._arns.signing_profile(record.name, record.version),
            "Active" if record.revoked is None else "Revoked",
            record.created,
        )

    async def handle(self, request: web.Request, caller: Caller, name: str | None, version: str | None) -> web.Response:
        if request.method == "POST" and name is None:
            try:
                new = _decode_new(await request.read())
            except msgspec.DecodeError as exc:
                raise InvalidParameter(f"Expected {{'ProfileName': ..., 'PublicKey': ...}}: {exc}") from exc
            if PROFILE_NAME.match(new.ProfileName) is None:
                raise InvalidParameter("ProfileName must be 2 to 64 letters, digits and underscores")
            caller.require("signer:PutSigningProfile", self._arns.signing_profile(new.ProfileName))
            return _json(self._shown(await self._profiles.create(new.ProfileName, _raw_public_key(new.PublicKey))))
        if request.method == "GET" and name is None:
            caller.require("signer:ListSigningProfiles", "*")
            return _json([self._shown(record) for record in await self._profiles.list()])
        if request.method == "POST" and name is not None and version is not None:
            caller.require("signer:RevokeSigningProfile", self._arns.signing_profile(name))
            revoked = await self._profiles.revoke(name, version)
            if revoked is None:
                raise ResourceNotFound(f"No signing profile version {self._arns.signing_profile(name, version)}")
            return _json(self._shown(revoked))
        raise ResourceNotFound(f"Nothing at {request.method} {request.path}")


def _json(value: object) -> web.Response:
    return web.Response(body=msgspec.json.encode(value), content_type="application/json")
