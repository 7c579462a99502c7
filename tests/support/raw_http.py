"""Reading HTTP requests off a bare socket, for tests whose server must misbehave in ways no
HTTP server library will (take a request, then end the connection without an answer)."""

from __future__ import annotations

import re
import socket


def read_request(conn: socket.socket, data: bytes = b"") -> tuple[bytes, bytes]:
    """The body of the next request on ``conn`` (``data``: bytes of it already read) and
    whatever came after it."""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("the client closed the connection mid-request")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    found = re.search(rb"(?i)content-length: *(\d+)", head)
    length = int(found.group(1)) if found else 0
    while len(rest) < length:
        rest += conn.recv(65536)
    return rest[:length], rest[length:]
