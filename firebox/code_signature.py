"""The signature of a deployment package: what `firebox sign` adds to a zip, and what the server checks.

A signed zip has one more member at its root, `.firebox-signature`, holding JSON:

    {"Format": 1, "SigningProfileVersionArn": "arn:aws:signer:...:/signing-profiles/NAME/VERSION",
     "SigningJobId": "<a UUID: this signing>", "ContentDigest": "<hex SHA-256>", "Signature": "<base64>"}

`ContentDigest` covers every other member (`content_digest`); `Signature` is the Ed25519 signature, by the
profile version's private key, of `signed_message` (the format, the profile version, the job and the
digest). So the order of the members, their compression and their timestamps do not matter, and any change
to a name, a content, an executable bit or a symlink does.

The CLI signs with it, the frontend verifies with it, and the worker leaves the member out of /var/task and
/opt; so it sits beside errors.py at the top of the package and uses nothing else of Firebox's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import stat
import zipfile

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from firebox.errors import CodeSignatureInvalid

SIGNATURE_MEMBER = ".firebox-signature"
FORMAT = 1
PROFILE_NAME_PATTERN = r"[a-zA-Z0-9_]{2,64}"  # AWS Signer's profile names
PROFILE_VERSION_PATTERN = r"[a-zA-Z0-9]{10}"  # and profile versions
# \Z, not $, which would let a trailing newline through.
PROFILE_NAME = re.compile(rf"^{PROFILE_NAME_PATTERN}\Z")
PROFILE_VERSION_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:signer:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):/signing-profiles/"
    rf"(?P<name>{PROFILE_NAME_PATTERN})/(?P<version>{PROFILE_VERSION_PATTERN})\Z"
)
_JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_DIGEST = re.compile(r"^[0-9a-f]{64}\Z")
_MAX_MEMBER_BYTES = 4096  # a signature entry is about 400 bytes: anything much bigger is not one
_CHUNK = 1 << 20


class SignatureEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="pascal"):
    format: int
    signing_profile_version_arn: str
    signing_job_id: str
    content_digest: str
    signature: str  # base64


_decode_entry = msgspec.json.Decoder(SignatureEntry).decode


def content_digest(archive: zipfile.ZipFile) -> str:
    """The hex SHA-256 of every member but the signature, in order of name: for each its name (UTF-8), a NUL,
    its kind (`f` a file, `x` an executable file, `l` a symlink) and the SHA-256 of its content. Directory
    entries count for nothing: they hold no content, and zip tools differ on writing them. A name given twice
    makes the package unsignable, since which of the two lands in /var/task would be up to the unpacker."""
    entries: dict[bytes, bytes] = {}
    for member in archive.infolist():
        if member.is_dir() or member.filename == SIGNATURE_MEMBER:
            continue
        name = member.filename.encode()
        if name in entries:
            raise CodeSignatureInvalid(f"The package holds {member.filename!r} twice: it cannot be signed")
        content = hashlib.sha256()
        with archive.open(member) as source:
            while chunk := source.read(_CHUNK):
                content.update(chunk)
        entries[name] = b"\0" + _kind(member) + content.digest()
    digest = hashlib.sha256()
    for name in sorted(entries):
        digest.update(name + entries[name])
    return digest.hexdigest()


def _kind(member: zipfile.ZipInfo) -> bytes:
    """As the worker unpacks it: zips made on Unix carry the mode in the high bits of external_attr."""
    mode = member.external_attr >> 16
    if stat.S_ISLNK(mode):
        return b"l"
    return b"x" if stat.S_ISREG(mode) and mode & stat.S_IXUSR else b"f"


def signed_message(profile_version_arn: str, job_id: str, digest: str) -> bytes:
    """What the Ed25519 signature is made over: none of the parts may hold a newline (their forms forbid it)."""
    return f"firebox-code-signature {FORMAT}\n{profile_version_arn}\n{job_id}\n{digest}".encode()


def sign_package(data: bytes, key: Ed25519PrivateKey, profile_version_arn: str, job_id: str) -> bytes:
    """`data` (a zip) with a signature entry by `key`, in place of any it had."""
    if PROFILE_VERSION_ARN.match(profile_version_arn) is None:
        raise CodeSignatureInvalid(f"{profile_version_arn!r} is not a signing profile version ARN")
    output = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(output, "w") as signed:
        digest = content_digest(source)
        for member in source.infolist():
            if member.filename != SIGNATURE_MEMBER:
                signed.writestr(member, source.read(member))  # the same ZipInfo: mode, time and compression stay
        signature = key.sign(signed_message(profile_version_arn, job_id, digest))
        entry = SignatureEntry(FORMAT, profile_version_arn, job_id, digest, base64.b64encode(signature).decode())
        info = zipfile.ZipInfo(SIGNATURE_MEMBER, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        signed.writestr(info, msgspec.json.encode(entry))
    return output.getvalue()


def read_signature(archive: zipfile.ZipFile) -> SignatureEntry | None:
    """The package's signature entry; None when it has none. A malformed one is CodeSignatureInvalid."""
    try:
        member = archive.getinfo(SIGNATURE_MEMBER)
    except KeyError:
        return None
    if member.file_size > _MAX_MEMBER_BYTES:
        raise CodeSignatureInvalid(f"{SIGNATURE_MEMBER} is too large to be a signature")
    try:
        entry = _decode_entry(archive.read(member))
    except msgspec.DecodeError as exc:
        raise CodeSignatureInvalid(f"{SIGNATURE_MEMBER} is not a Firebox signature: {exc}") from exc
    problem = _malformed(entry)
    if problem is not None:
        raise CodeSignatureInvalid(f"{SIGNATURE_MEMBER} is not a Firebox signature: {problem}")
    return entry


def _malformed(entry: SignatureEntry) -> str | None:
    """What is wrong with the form of an entry's fields, if anything."""
    if entry.format != FORMAT:
        return f"format {entry.format} is not {FORMAT}"
    if PROFILE_VERSION_ARN.match(entry.signing_profile_version_arn) is None:
        return "its SigningProfileVersionArn is not a signing profile version ARN"
    if _JOB_ID.match(entry.signing_job_id) is None:
        return "its SigningJobId is not a UUID"
    if _DIGEST.match(entry.content_digest) is None:
        return "its ContentDigest is not a hex SHA-256"
    return None


def check_signature(entry: SignatureEntry, digest: str, public_key: bytes) -> None:
    """Raise CodeSignatureInvalid unless `entry` signs content of `digest` with the key `public_key` (raw
    Ed25519): the integrity check, which no code signing policy waives."""
    if entry.content_digest != digest:
        raise CodeSignatureInvalid(
            "The code signature failed the integrity check: the package changed after it was signed"
        )
    try:
        signature = base64.b64decode(entry.signature, validate=True)
        message = signed_message(entry.signing_profile_version_arn, entry.signing_job_id, digest)
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (binascii.Error, InvalidSignature) as exc:
        raise CodeSignatureInvalid(
            "The code signature failed the integrity check: it is not a signature by "
            f"{entry.signing_profile_version_arn}"
        ) from exc
