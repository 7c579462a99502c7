"""Bodies read with a cap (bot.http.bodies): a declared length over the cap is refused before
a byte is read, and the stream itself is cut off once it passes the cap whatever the headers
say (a length that lies, or none at all)."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from bot.http.bodies import TooLarge, declared_length, read_capped


class Body:
    """An ASGI ``receive`` that hands out ``chunks`` and counts what was taken."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.taken = 0

    async def __call__(self) -> dict:
        index = self.taken
        self.taken += 1
        if index >= len(self.chunks):
            return {"type": "http.disconnect"}
        more = index + 1 < len(self.chunks)
        return {"type": "http.request", "body": self.chunks[index], "more_body": more}

    @property
    def bytes_taken(self) -> int:
        return sum(len(c) for c in self.chunks[: self.taken])


def _request(body: Body, length: str | None = None) -> Request:
    headers = [(b"content-length", length.encode())] if length is not None else []
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}
    return Request(scope, body)


def _read(request: Request, cap: int) -> bytes:
    return asyncio.run(read_capped(request, cap))


def test_a_body_within_the_cap_is_read_whole():
    body = Body([b"a" * 10, b"b" * 10, b"c" * 5])
    assert _read(_request(body, "25"), cap=25) == b"a" * 10 + b"b" * 10 + b"c" * 5


def test_a_declared_length_over_the_cap_is_refused_without_reading():
    body = Body([b"x" * 10])
    with pytest.raises(TooLarge) as raised:
        _read(_request(body, str(2 * 1024**3)), cap=1000)
    assert body.taken == 0
    assert raised.value.cap == 1000
    assert str(raised.value) == "the body is over 1000 bytes"


def test_a_length_that_lies_low_is_cut_off_at_the_cap_plus_one_chunk():
    body = Body([b"x" * 40] * 100)
    with pytest.raises(TooLarge):
        _read(_request(body, "10"), cap=100)
    assert body.bytes_taken <= 100 + 40
    assert body.taken < 100


def test_a_body_with_no_length_is_bounded_by_the_stream_cap():
    body = Body([b"x" * 64] * 50)
    with pytest.raises(TooLarge):
        _read(_request(body), cap=256)
    assert body.bytes_taken <= 256 + 64


def test_a_length_that_lies_high_but_within_the_cap_reads_what_came():
    body = Body([b"short"])
    assert _read(_request(body, "90"), cap=100) == b"short"


def test_exactly_the_cap_is_allowed():
    assert _read(_request(Body([b"x" * 50, b"y" * 50]), "100"), cap=100) == b"x" * 50 + b"y" * 50


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("123", 123),
        ("  42 ", 42),
        ("", None),
        ("abc", None),
        ("-1", None),
        ("1e6", None),
        ("١٢", None),  # digits, but not ASCII ones
    ],
)
def test_declared_length(header, expected):
    assert declared_length(_request(Body([]), header)) == expected


def test_no_header_declares_nothing():
    assert declared_length(_request(Body([]))) is None
