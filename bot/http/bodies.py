"""Request bodies read with a cap, before anything else looks at them.

Starlette's ``await request.body()`` reads the whole body whatever its size, so a single
multi-gigabyte POST from anyone would sit in memory before the signature or the size is checked.
Here a declared ``Content-Length`` over the cap is refused without reading a byte, and the body
itself is streamed and given up on as soon as it passes the cap -- which also bounds a chunked
body, or one whose length header is missing. uvicorn stops reading the socket while a chunk
waits to be taken, so what was not read is never buffered either.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request


class TooLarge(Exception):
    """The body is (or says it is) over the cap: answered 413."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"the body is over {cap} bytes")
        self.cap = cap


def declared_length(request: Request) -> int | None:
    """``Content-Length`` as a number, or None when missing or not one (the stream cap then
    bounds the read; uvicorn refuses a malformed length before we see the request anyway)."""
    value = request.headers.get("content-length", "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


async def read_capped(request: Request, cap: int) -> bytes:
    """The whole body, at most ``cap`` bytes; :class:`TooLarge` otherwise, having read no more
    than ``cap`` bytes plus one chunk."""
    declared = declared_length(request)
    if declared is not None and declared > cap:
        raise TooLarge(cap)
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise TooLarge(cap)
        parts.append(chunk)
    return b"".join(parts)


def json_object(raw: bytes) -> dict[str, Any] | None:
    """The body as a JSON object; None for anything else: not JSON, nested too deep for the
    parser (a RecursionError, not a ValueError), or JSON that is not an object."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None
