"""Zips uploaded to Firebox (function code and layer content): checked, stored once by digest, and served
back at a URL, as AWS hands out a Location for both."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from firebox.errors import InvalidParameter, RequestEntityTooLarge
from firebox.store import MAX_UNZIPPED_BYTES, CodeRef, CodeStore, LayerRef, inspect_zip

MAX_ZIP_BYTES = 52_428_800  # AWS: 50 MB zipped, uploaded directly


async def store_zip(code_store: CodeStore, zip_file: bytes | None, what: str) -> CodeRef:
    """Check `zip_file` (function code or layer content, as `what` says) and put it in the code store."""
    if zip_file is None:
        raise InvalidParameter(f"Firebox takes {what} as ZipFile: S3 locations and container images are not supported")
    if len(zip_file) > MAX_ZIP_BYTES:
        raise RequestEntityTooLarge(f"Zipped {what} must be smaller than {MAX_ZIP_BYTES} bytes")
    # Unzipping every member and writing the blob take long for a big package: not on the event loop.
    return await asyncio.to_thread(_check_and_put, code_store, zip_file)


def _check_and_put(code_store: CodeStore, zip_file: bytes) -> CodeRef:
    inspect_zip(zip_file)
    return code_store.put(zip_file)


async def check_unzipped_total(code_store: CodeStore, code: CodeRef, layers: Sequence[LayerRef]) -> None:
    """A function's code and its layers, unzipped, must fit in Lambda's 250 MB together."""
    if not layers:
        return  # the code alone was checked when it was stored
    digests = [code.digest, *(layer.content.digest for layer in layers)]
    total = sum(await asyncio.to_thread(lambda: [code_store.unzipped_size(digest) for digest in digests]))
    if total > MAX_UNZIPPED_BYTES:
        raise InvalidParameter(
            "Function code combined with layers exceeds the maximum allowed size of "
            f"{MAX_UNZIPPED_BYTES} bytes. The actual size is {total} bytes."
        )


def code_location(base_url: str, code: CodeRef) -> str:
    """Where a client downloads stored code, as AWS hands out a presigned S3 URL."""
    return f"{base_url}/firebox/code/{code.digest}.zip"
