"""Firebox's access keys: the administrator's key made on first start, and the `/firebox/keys` API that
`firebox keys` uses to create, list and delete more.

Keys are managed through the server (never by writing its state store from another process), by a caller
whose policy allows `firebox:CreateKey`, `firebox:ListKeys` or `firebox:DeleteKey` — the administrator's
does.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import msgspec
from aiohttp import web

from firebox.errors import InvalidParameter, ResourceNotFound
from firebox.frontend.authentication import ADMINISTRATOR, Caller
from firebox.frontend.policies import check_policy
from firebox.frontend.protocol import json_object
from firebox.store import AccessKey, AccessKeys

log = logging.getLogger(__name__)

ADMIN_POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
# What a key made without a policy may do: everything but managing keys.
DEFAULT_POLICY = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["lambda:*", "logs:*", "sqs:*"],'
    ' "Resource": "*"}]}'
)
PROFILE = "firebox"
_PRINCIPAL = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,64}$")  # an IAM user name


class NewKey(msgspec.Struct, frozen=True):
    """What creating a key answers: the only time its secret is shown."""

    AccessKeyId: str
    SecretAccessKey: str
    Principal: str


class ListedKey(msgspec.Struct, frozen=True):
    AccessKeyId: str
    Principal: str
    Created: float


async def ensure_admin_key(keys: AccessKeys, credentials: Path) -> None:
    """On a data dir without keys, make the administrator's and write it where its owner finds it."""
    if await keys.list():
        return
    admin = await keys.create(ADMINISTRATOR, ADMIN_POLICY)
    _write_credentials(admin, credentials)
    log.warning(
        "Created the administrator's access key %s; its secret is in %s (readable by its owner only). Use it"
        " with AWS_SHARED_CREDENTIALS_FILE=%s AWS_PROFILE=%s, or copy that profile into ~/.aws/credentials.",
        admin.access_key_id,
        credentials,
        credentials,
        PROFILE,
    )


def _write_credentials(key: AccessKey, path: Path) -> None:
    text = f"[{PROFILE}]\naws_access_key_id = {key.access_key_id}\naws_secret_access_key = {key.secret_access_key}\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)


class KeysApi:
    def __init__(self, keys: AccessKeys) -> None:
        self._keys = keys

    async def handle(self, request: web.Request, caller: Caller, key_id: str | None) -> web.Response:
        if request.method == "POST" and key_id is None:
            caller.require("firebox:CreateKey", "*")
            document = json_object(await request.read())
            principal = document.get("Principal")
            if not isinstance(principal, str) or not _PRINCIPAL.match(principal):
                raise InvalidParameter("Principal must be a user name of 1 to 64 letters, digits and +=,.@_-")
            policy = document.get("Policy") or DEFAULT_POLICY
            if not isinstance(policy, str):
                raise InvalidParameter("Policy must be a policy document in IAM's JSON syntax, as text")
            check_policy(policy)
            key = await self._keys.create(principal, policy)
            return _json(NewKey(key.access_key_id, key.secret_access_key, key.principal))
        if request.method == "GET" and key_id is None:
            caller.require("firebox:ListKeys", "*")
            listed = [ListedKey(k.access_key_id, k.principal, k.created) for k in await self._keys.list()]
            return _json(listed)
        if request.method == "DELETE" and key_id is not None:
            caller.require("firebox:DeleteKey", "*")
            if not await self._keys.delete(key_id):
                raise ResourceNotFound(f"No access key {key_id}")
            return web.Response(status=204)
        raise ResourceNotFound(f"Nothing at {request.method} {request.path}")


def _json(value: object) -> web.Response:
    return web.Response(body=msgspec.json.encode(value), content_type="application/json")
