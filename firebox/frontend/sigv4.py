"""AWS Signature Version 4, computed on the server's side of a request.

The same computation as botocore's signer (the one boto3 and the AWS CLI sign with), done on the request as
aiohttp holds it. botocore's signer first builds its own request and header objects, and a profile of
invocations under load showed the server spending 29% of its time in them; this takes a few microseconds.
tests/frontend/test_sigv4.py checks, over generated requests, that both compute the same signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import quote

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Non-empty segments of unreserved characters, none starting with a dot (so none is "." or ".."), and
# perhaps a slash at the end: a path that dot-segment removal and encoding leave as it is.
_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*/?")


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    signed_values: Iterable[tuple[str, list[str]]],
    payload_sha256: str,
) -> str:
    """The canonical request of SigV4: `signed_values` are the signed headers (lower-case names, in the order
    the client listed them) with every value each has, as the client sent them."""
    headers = sorted({name: values for name, values in signed_values}.items())
    lines = [
        method.upper(),
        _canonical_path(raw_path),
        _canonical_query(raw_query),
        *(f"{name}:{','.join(' '.join(value.split()) for value in values)}" for name, values in headers),
        "",
        ";".join(name for name, _ in headers),
        payload_sha256,
    ]
    return "\n".join(lines)


def signature(secret: str, amz_date: str, region: str, service: str, canonical: str) -> str:
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = _signing_key(secret, amz_date[:8], region, service)
    return hmac.digest(key, to_sign.encode(), "sha256").hex()  # one-shot: no HMAC object to build


@lru_cache(maxsize=1024)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """Four HMACs that change once a day per key: worth keeping."""
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


def _canonical_path(raw_path: str) -> str:
    """The path as SigV4 signs it: without dot segments, and URI-encoded once more (as AWS wants for every
    service but S3). A path of plain segments (the Lambda API's own: names, versions, dates) is that
    already, and is taken as it is: the general way cost every request a few microseconds."""
    if raw_path and _PLAIN_PATH.fullmatch(raw_path):
        return raw_path
    return quote(_without_dot_segments(raw_path), safe="/~")


def _without_dot_segments(path: str) -> str:
    """RFC 3986's removal of "." and ".." segments, with empty segments dropped too, as AWS wants."""
    if not path:
        return "/"
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    head = "/" if path.startswith("/") else ""
    tail = "/" if path.endswith("/") and kept else ""
    return head + "/".join(kept) + tail


def _canonical_query(raw_query: str) -> str:
    """The query's pairs sorted by key, then value, each as the client sent it (already encoded)."""
    if not raw_query:
        return ""
    pairs = sorted(pair.partition("=")[::2] for pair in raw_query.split("&"))
    return "&".join(f"{key}={value}" for key, value in pairs)
