"""`firebox signing-profile`: make, list and revoke the keys that sign deployment packages; and `firebox sign`,
which signs a zip with one (see `firebox/code_signature.py` for what a signature is)."""

from __future__ import annotations

import os
import uuid
import zipfile
from datetime import datetime
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)
from rich.console import Console
from rich.table import Table
from rich.text import Text

from firebox.cli.connection import CommandFailed, Connection
from firebox.code_signature import PROFILE_NAME, PROFILE_VERSION_ARN, sign_package
from firebox.errors import CodeSignatureInvalid


def _profile_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if PROFILE_NAME.match(value) is None:
        raise click.BadParameter(f"{value!r} is not 2 to 64 letters, digits and underscores, as profile names are")
    return value


def _profile_version_arn(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if PROFILE_VERSION_ARN.match(value) is None:
        raise click.BadParameter(f"{value!r} is not arn:aws:signer:REGION:ACCOUNT:/signing-profiles/NAME/VERSION")
    return value


@click.group(name="signing-profile")
def signing_profile() -> None:
    """Manage signing profiles: the keys whose signatures code signing configurations trust (as a principal
    allowed signer:*)."""


@signing_profile.command()
@click.argument("name", callback=_profile_name)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the private key (PEM, readable by you only); default NAME.pem. It never leaves this machine.",
)
@click.pass_obj
def create(connection: Connection, name: str, key_file: Path | None) -> None:
    """Make a new version of the signing profile NAME (an Ed25519 key pair) and print its ARN, which code
    signing configurations name as an allowed publisher. The server keeps only the public key."""
    path = key_file or Path(f"{name}.pem")
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    try:  # claimed before the server hears of the key, so that a key is never made with nowhere to keep it
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise CommandFailed(f"cannot write the private key to {path}: {error.strerror}") from error
    try:
        made = connection.call("POST", "/firebox/signing-profiles", {"ProfileName": name, "PublicKey": public})
    except CommandFailed:
        os.close(descriptor)
        path.unlink()
        raise
    with os.fdopen(descriptor, "wb") as out:
        out.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    arn = made["ProfileVersionArn"]
    click.echo(arn)
    click.echo(
        f"(the private key is in {path}: keep it secret; sign with firebox sign --key {path} "
        f"--profile-version-arn {arn} PACKAGE.zip)",
        err=True,
    )


@signing_profile.command(name="list")
@click.pass_obj
def list_profiles(connection: Connection) -> None:
    """List the signing profile versions: name, version, status, creation time, ARN."""
    table = Table(box=None, header_style="bold")
    for column in ("NAME", "VERSION", "STATUS", "CREATED", "ARN"):
        table.add_column(column, no_wrap=True)
    for profile in connection.call("GET", "/firebox/signing-profiles"):
        created = datetime.fromtimestamp(profile["Created"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            *(Text(profile[field]) for field in ("ProfileName", "ProfileVersion", "Status")),
            Text(created),
            Text(profile["ProfileVersionArn"]),
        )
    Console(width=250).print(table)


@signing_profile.command()
@click.argument("profile_version_arn", callback=_profile_version_arn)
@click.pass_obj
def revoke(connection: Connection, profile_version_arn: str) -> None:
    """Revoke a signing profile version: code it signed is untrusted in deployments from now on."""
    found = PROFILE_VERSION_ARN.match(profile_version_arn)
    assert found is not None  # the callback checked it
    connection.call("POST", f"/firebox/signing-profiles/{found['name']}/{found['version']}/revoke")
    click.echo(f"revoked {profile_version_arn}")


@click.command()
@click.argument("package", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The private key of the signing profile version (what `firebox signing-profile create` wrote).",
)
@click.option("--profile-version-arn", required=True, callback=_profile_version_arn, help="Its ARN.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the signed zip here, not over PACKAGE.",
)
def sign(package: Path, key_file: Path, profile_version_arn: str, output: Path | None) -> None:
    """Sign the zip PACKAGE: add a `.firebox-signature` entry to it (replacing any it had). Needs no server."""
    try:
        key = load_pem_private_key(key_file.read_bytes(), password=None)
    except (ValueError, TypeError) as error:  # TypeError: the key file is encrypted
        raise CommandFailed(f"{key_file} is not an unencrypted PEM private key: {error}") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise CommandFailed(f"{key_file} is not an Ed25519 key, as signing profiles are")
    job_id = str(uuid.uuid4())
    try:
        signed = sign_package(package.read_bytes(), key, profile_version_arn, job_id)
    except zipfile.BadZipFile as error:
        raise CommandFailed(f"{package} is not a zip: {error}") from error
    except CodeSignatureInvalid as error:
        raise CommandFailed(error.message) from error
    target = output or package
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(signed)
    partial.replace(target)  # a failed write never leaves half a package under the name
    click.echo(f"signed {target} (signing job {job_id})")
