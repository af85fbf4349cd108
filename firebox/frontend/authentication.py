"""Who sent a request: AWS Signature Version 4, verified against Firebox's own access keys.

The server recomputes the signature the way the client computed it (sigv4.py, checked against botocore's own
signer, which boto3 and the AWS CLI sign with), over the headers the client says it signed, and compares.
A signature proves the sender holds the key's secret; the date in it bounds how long a captured request
can be replayed (15 minutes either way, as AWS allows).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from firebox.errors import AccessDenied, MissingAuthentication, SignatureMismatch, UnknownAccessKey
from firebox.frontend import sigv4
from firebox.frontend.policies import Decision, Policy, parse_policy
from firebox.store import AccessKey, AccessKeys

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW_S = 15 * 60
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/\s]+)/(?P<date>\d{8})/(?P<region>[^/\s]+)/(?P<service>[^/\s]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<headers>[a-z0-9;_.-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_AMZ_DATE_FIELDS = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")


ADMINISTRATOR = "admin"  # the principal of the key made on first start: the account's own, owner of everything


@dataclass(frozen=True, slots=True)
class Caller:
    """The principal a request comes from, and what its key's policy lets it do."""

    principal: str
    arn: str  # arn:aws:iam::ACCOUNT:user/PRINCIPAL, as resource policies name it
    policy: Policy

    @property
    def is_administrator(self) -> bool:
        return self.principal == ADMINISTRATOR

    def require(self, action: str, resource: str) -> None:
        """Raise AccessDenied unless the key's policy allows `action` on `resource`."""
        decision = self.policy.decision(action, resource)
        if decision is not Decision.ALLOW:
            raise self.denied(action, resource, decision)

    def denied(self, action: str, resource: str, decision: Decision) -> AccessDenied:
        why = (
            "with an explicit deny in an identity-based policy"
            if decision is Decision.DENY
            else f"because no identity-based policy allows the {action} action"
        )
        return AccessDenied(f"User: {self.arn} is not authorized to perform: {action} on resource: {resource} {why}")


class Authenticator:
    def __init__(
        self,
        keys: AccessKeys,
        region: str,
        account_id: str,
        *,
        required: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._region = region
        self._account_id = account_id
        self._required = required
        self._clock = clock
        everything = parse_policy('{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}')
        self._anyone = Caller(ADMINISTRATOR, self._arn(ADMINISTRATOR), everything)

    def _arn(self, principal: str) -> str:
        return f"arn:aws:iam::{self._account_id}:user/{principal}"

    async def caller(self, request: web.Request, service: str) -> Caller:
        """The caller who signed `request` for `service`; raises NotAuthenticated otherwise."""
        if not self._required:  # --insecure-no-auth: everyone is the administrator
            return self._anyone
        header = request.headers.get("Authorization")
        if header is None:
            raise MissingAuthentication("Missing Authentication Token")
        found = _AUTHORIZATION.match(header)
        if found is None:
            raise SignatureMismatch(
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters of an"
                " AWS4-HMAC-SHA256 signature."
            )
        key = await self._keys.get(found["key"])
        if key is None:
            raise UnknownAccessKey("The security token included in the request is invalid.")
        amz_date = request.headers.get("X-Amz-Date", "")
        self._check_scope(found, amz_date, service)
        body = await request.read()
        expected = self._signature(request, body, key, service, amz_date, found["headers"].split(";"))
        if not hmac.compare_digest(expected, found["signature"]):
            raise SignatureMismatch(
                "The request signature we calculated does not match the signature you provided. Check your AWS"
                " Secret Access Key and signing method. Consult the service documentation for details."
            )
        return Caller(key.principal, self._arn(key.principal), parse_policy(key.policy))

    def _check_scope(self, found: re.Match[str], amz_date: str, service: str) -> None:
        try:
            signed_at = _signing_time(amz_date)
        except ValueError:
            raise SignatureMismatch(
                "The request must carry its signing time in X-Amz-Date (YYYYMMDDTHHMMSSZ)."
            ) from None
        now = self._clock()
        if signed_at < now - MAX_CLOCK_SKEW_S:
            raise SignatureMismatch(
                f"Signature expired: {amz_date} is now earlier than {_amz(now - MAX_CLOCK_SKEW_S)}"
                f" ({_amz(now)} - 15 min.)"
            )
        if signed_at > now + MAX_CLOCK_SKEW_S:
            raise SignatureMismatch(
                f"Signature not yet current: {amz_date} is still later than"
                f" {_amz(now + MAX_CLOCK_SKEW_S)} ({_amz(now)} + 15 min.)"
            )
        if found["date"] != amz_date[:8]:
            raise SignatureMismatch("The date of the credential scope must be the date of X-Amz-Date.")
        if found["region"] != self._region:
            raise SignatureMismatch(f"Credential should be scoped to a valid region, not '{found['region']}'.")
        if found["service"] != service:
            raise SignatureMismatch(f"Credential should be scoped to correct service: '{service}'.")
        if "host" not in found["headers"].split(";"):
            raise SignatureMismatch("The host header must be signed.")

    def _signature(
        self, request: web.Request, body: bytes, key: AccessKey, service: str, amz_date: str, signed: list[str]
    ) -> str:
        claimed = request.headers.get("X-Amz-Content-SHA256")
        payload = hashlib.sha256(body).hexdigest() if body else sigv4.EMPTY_SHA256
        if claimed is not None and claimed != payload:
            # A signed digest that the body does not match: the body is not the one that was signed.
            raise SignatureMismatch("The provided 'x-amz-content-sha256' header does not match what was computed.")
        values = []
        for name in signed:
            sent = request.headers.getall(name, [])
            if not sent:
                raise SignatureMismatch(f"The request signs the header {name} but does not carry it.")
            values.append((name, [_as_signed(value) for value in sent]))
        url = request.rel_url
        canonical = sigv4.canonical_request(request.method, url.raw_path, url.raw_query_string, values, payload)
        return sigv4.signature(key.secret_access_key, amz_date, self._region, service, canonical)


def _as_signed(value: str) -> str:
    """A header value as the client's signer saw it: botocore signs the text, then sends it as Latin-1 bytes
    (as http.client does), which aiohttp decoded as UTF-8 (keeping what is not UTF-8 as surrogates). The
    bytes, read as Latin-1, are the text that was signed."""
    return value if value.isascii() else value.encode("utf-8", "surrogateescape").decode("latin-1")


@functools.lru_cache(maxsize=256)
def _signing_time(amz_date: str) -> float:
    """The time X-Amz-Date names (YYYYMMDDTHHMMSSZ, UTC); ValueError when it names none. Read by its fixed
    fields rather than with strptime, which cost every request ~7 µs (5% of the server's time under wrk),
    and remembered: requests signed within the same second carry the same text."""
    found = _AMZ_DATE_FIELDS.fullmatch(amz_date)
    if found is None:
        raise ValueError(amz_date)
    year, month, day, hour, minute, second = map(int, found.groups())
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def _amz(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime(_AMZ_DATE)
