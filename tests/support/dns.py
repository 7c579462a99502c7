"""A name server that does not answer: ``getaddrinfo`` for any name under ``HANGS`` waits until
the test ends (glibc, asking a silent server, waits 5 s per try, per server, per address family),
then fails as a lookup that timed out does. Other names resolve as usual.

``tests/conftest.py`` loads this module as a plugin: a test asks for ``hanging_dns`` and gets
the event set when such a lookup began (so it knows the call did reach the lookup)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

HANGS = ".dns-hangs.test"


@pytest.fixture
def hanging_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    real = socket.getaddrinfo
    looked_up = threading.Event()
    answered = threading.Event()

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host).endswith(HANGS):
            looked_up.set()
            answered.wait(60)  # until the test is over
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield looked_up
    answered.set()  # the lookups left waiting in their threads end now
