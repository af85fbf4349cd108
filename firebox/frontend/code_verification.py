"""Code signing at deployment: a function with a code signing configuration takes only code (and layers)
signed by one of its allowed publishers, as Lambda checks them.

A signature that does not match its package (or is no signature at all) fails the integrity check, which
refuses the deployment whatever the policy (InvalidCodeSignatureException). Code that is unsigned, signed by
a signing profile version Firebox does not know, by a revoked one, or by one the configuration does not
allow, is untrusted: under UntrustedArtifactOnDeployment=Enforce it is refused
(CodeVerificationFailedException); under Warn it is deployed, and the server logs a warning. The checks run
at deployment only, as on AWS: attaching a configuration to a function leaves its current code alone.
"""

from __future__ import annotations

import asyncio
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import msgspec

from firebox.code_signature import SignatureEntry, check_signature, content_digest, read_signature
from firebox.errors import CodeSigningConfigNotFound, CodeUntrusted
from firebox.frontend.context import Frontend
from firebox.frontend.names import signing_profile_version
from firebox.store import CodeRef, CodeSignature, CodeSigningConfigRecord, LayerRef

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Signed:
    entry: SignatureEntry
    digest: str  # of the package's content, as it is now


def _read_package(path: Path) -> _Signed | None:
    with zipfile.ZipFile(path) as archive:
        entry = read_signature(archive)
        return None if entry is None else _Signed(entry, content_digest(archive))


class CodeVerification:
    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend

    async def config(self, config_id: str | None) -> CodeSigningConfigRecord | None:
        """The code signing configuration a function uses (None for none)."""
        if config_id is None:
            return None
        return await self._f.code_signing_config(self._f.arns.code_signing_config(config_id), CodeSigningConfigNotFound)

    async def code(self, config: CodeSigningConfigRecord | None, code: CodeRef, function: str) -> CodeSignature | None:
        """Check a function's new code (already in the code store); who signed it, when that is known."""
        if config is None:
            return None
        return await self._verify(config, code, f"the code of function {function}")

    async def layers(
        self, config: CodeSigningConfigRecord | None, layers: tuple[LayerRef, ...], function: str
    ) -> tuple[LayerRef, ...]:
        """Check the layers a function is given; each with who signed it, when that is known."""
        if config is None:
            return layers
        checked = []
        for layer in layers:
            signature = await self._verify(config, layer.content, f"layer {layer.arn} of function {function}")
            checked.append(msgspec.structs.replace(layer, code_signature=signature))
        return tuple(checked)

    async def _verify(self, config: CodeSigningConfigRecord, package: CodeRef, what: str) -> CodeSignature | None:
        # Reading and hashing every member takes time in proportion to the package: not on the event loop.
        signed = await asyncio.to_thread(_read_package, self._f.code_store.path(package.digest))
        signature, problem = await self._signer(signed)
        if problem is None and signature is not None and signature.profile_version_arn not in config.allowed_publishers:
            arn = self._f.arns.code_signing_config(config.config_id)
            problem = f"it is signed by {signature.profile_version_arn}, which is not an allowed publisher of {arn}"
        if problem is not None:
            if config.untrusted_artifact_on_deployment == "Enforce":
                raise CodeUntrusted(f"Lambda cannot deploy {what}: {problem}.")
            log.warning("Deploying %s though %s (UntrustedArtifactOnDeployment is Warn)", what, problem)
        return signature

    async def _signer(self, signed: _Signed | None) -> tuple[CodeSignature | None, str | None]:
        """Who signed the package, when its signature holds; and what makes it untrusted, if anything."""
        if signed is None:
            return None, "it is not signed"
        arn = signed.entry.signing_profile_version_arn
        found = signing_profile_version(arn, self._f.arns)
        profile = None if found is None else await self._f.signing_profiles.get(*found)
        if profile is None:
            return None, f"it is signed by {arn}, a signing profile version this Firebox does not know"
        check_signature(signed.entry, signed.digest, profile.public_key)
        signature = CodeSignature(arn, self._f.arns.signing_job(signed.entry.signing_job_id))
        return signature, (None if profile.revoked is None else f"its signing profile version {arn} was revoked")
