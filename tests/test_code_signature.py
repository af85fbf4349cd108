"""The signature format of a deployment package: what it covers, what it ignores, what it refuses."""

from __future__ import annotations

import io
import uuid
import zipfile

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from firebox.code_signature import (
    SIGNATURE_MEMBER,
    SignatureEntry,
    check_signature,
    content_digest,
    read_signature,
    sign_package,
)
from firebox.errors import CodeSignatureInvalid
from tests.zips import make_zip

ARN = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/ci/AbCdEf1234"
FILES = {"app.py": "def handler(event, context):\n    return 1\n", "lib/util.py": "X = 1\n", "bootstrap": "#!/bin/sh\n"}


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _digest(package: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return content_digest(archive)


def _entry(package: bytes) -> SignatureEntry | None:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return read_signature(archive)


def _verify(package: bytes, key: Ed25519PrivateKey) -> None:
    entry = _entry(package)
    assert entry is not None
    check_signature(entry, _digest(package), _raw(key))


def _rezip(package: bytes, change: dict[str, bytes] | None = None, reverse: bool = False) -> bytes:
    """`package` written again: members in reverse order, stored uncompressed, with `change`d contents."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as out:
        members = source.infolist()
        for member in reversed(members) if reverse else members:
            copy = zipfile.ZipInfo(member.filename, date_time=(2001, 2, 3, 4, 5, 6))
            copy.external_attr = member.external_attr
            out.writestr(copy, (change or {}).get(member.filename, source.read(member)))
    return buffer.getvalue()


def test_a_signed_package_verifies_and_keeps_its_members() -> None:
    key = Ed25519PrivateKey.generate()
    job = str(uuid.uuid4())
    package = make_zip(FILES, executable=("bootstrap",))
    signed = sign_package(package, key, ARN, job)
    _verify(signed, key)
    entry = _entry(signed)
    assert entry is not None
    assert (entry.signing_profile_version_arn, entry.signing_job_id) == (ARN, job)
    with zipfile.ZipFile(io.BytesIO(signed)) as archive:
        assert sorted(archive.namelist()) == sorted([*FILES, SIGNATURE_MEMBER])
        assert (
            archive.getinfo("bootstrap").external_attr
            == zipfile.ZipFile(io.BytesIO(package)).getinfo("bootstrap").external_attr
        )


def test_order_compression_and_timestamps_do_not_count() -> None:
    key = Ed25519PrivateKey.generate()
    signed = sign_package(make_zip(FILES), key, ARN, str(uuid.uuid4()))
    _verify(_rezip(signed, reverse=True), key)


def _with_signature_of(signed: bytes, package: bytes) -> bytes:
    """`package` with the signature entry of `signed`."""
    with zipfile.ZipFile(io.BytesIO(signed)) as archive:
        entry = archive.read(SIGNATURE_MEMBER)
    buffer = io.BytesIO(package)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr(SIGNATURE_MEMBER, entry)
    return buffer.getvalue()


_UNCHANGED = ("bootstrap",)  # the executable of FILES
_WITHOUT_UTIL = {k: v for k, v in FILES.items() if k != "lib/util.py"}


@pytest.mark.parametrize(
    ("files", "executable", "symlinks"),
    [
        pytest.param(
            {**FILES, "app.py": "def handler(event, context):\n    return 2\n"}, _UNCHANGED, None, id="content"
        ),
        pytest.param({**FILES, "extra.py": ""}, _UNCHANGED, None, id="added"),
        pytest.param(_WITHOUT_UTIL, _UNCHANGED, None, id="removed"),
        pytest.param({**_WITHOUT_UTIL, "lib/Util.py": FILES["lib/util.py"]}, _UNCHANGED, None, id="renamed"),
        pytest.param(FILES, ("bootstrap", "app.py"), None, id="executable bit"),
        pytest.param(FILES, _UNCHANGED, {"link": "app.py"}, id="symlink"),
    ],
)
def test_any_change_of_what_lands_in_var_task_breaks_the_signature(
    files: dict[str, str | bytes], executable: tuple[str, ...], symlinks: dict[str, str] | None
) -> None:
    key = Ed25519PrivateKey.generate()
    signed = sign_package(make_zip(FILES, _UNCHANGED), key, ARN, str(uuid.uuid4()))
    _verify(_with_signature_of(signed, make_zip(FILES, _UNCHANGED)), key)  # the moving alone changes nothing
    tampered = _with_signature_of(signed, make_zip(files, executable, symlinks))
    with pytest.raises(CodeSignatureInvalid, match="changed after it was signed"):
        _verify(tampered, key)


def test_another_key_or_profile_does_not_verify() -> None:
    key = Ed25519PrivateKey.generate()
    signed = sign_package(make_zip(FILES), key, ARN, str(uuid.uuid4()))
    with pytest.raises(CodeSignatureInvalid, match="not a signature by"):
        _verify(signed, Ed25519PrivateKey.generate())
    entry = _entry(signed)
    assert entry is not None
    relabelled = msgspec.structs.replace(entry, signing_profile_version_arn=ARN.replace("ci/", "other/"))
    with pytest.raises(CodeSignatureInvalid):
        check_signature(relabelled, _digest(signed), _raw(key))


def test_signing_again_replaces_the_signature() -> None:
    first, second = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    other = ARN.replace("AbCdEf1234", "ZyXwVu9876")
    twice = sign_package(sign_package(make_zip(FILES), first, ARN, str(uuid.uuid4())), second, other, str(uuid.uuid4()))
    with zipfile.ZipFile(io.BytesIO(twice)) as archive:
        assert archive.namelist().count(SIGNATURE_MEMBER) == 1
    _verify(twice, second)


def test_an_unsigned_package_has_no_signature() -> None:
    assert _entry(make_zip(FILES)) is None


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b'{"Format": 1}',
        b'{"Format": 2, "SigningProfileVersionArn": "%s", "SigningJobId": "%s", "ContentDigest": "%s", "Signature": ""}'
        % (ARN.encode(), str(uuid.uuid4()).encode(), b"0" * 64),
        b'{"Format": 1, "SigningProfileVersionArn": "arn:aws:iam::000000000000:role/x", "SigningJobId": "%s",'
        b' "ContentDigest": "%s", "Signature": ""}' % (str(uuid.uuid4()).encode(), b"0" * 64),
        b" " * 5000,
    ],
    ids=["not json", "fields missing", "another format", "not a profile ARN", "too large"],
)
def test_a_malformed_signature_entry_is_invalid(content: bytes) -> None:
    package = make_zip({**FILES, SIGNATURE_MEMBER: content})
    with pytest.raises(CodeSignatureInvalid, match="signature"):
        _entry(package)


def test_a_package_with_a_name_twice_cannot_be_signed() -> None:
    buffer = io.BytesIO()
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "a")
        archive.writestr("app.py", "b")
    with pytest.raises(CodeSignatureInvalid, match="twice"):
        sign_package(buffer.getvalue(), Ed25519PrivateKey.generate(), ARN, str(uuid.uuid4()))
