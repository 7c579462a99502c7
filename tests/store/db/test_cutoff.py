"""The deadline kept on our side of a connection before an ack (bot.store.db.cutoff): a socket
still busy at its deadline is shut down; one whose work ended, or whose descriptor number names
another file by then, is left alone."""

from __future__ import annotations

import os
import socket
import time

from bot.store.db import cutoff
from bot.store.db.cutoff import Cutoff


class _Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()


def test_a_socket_still_busy_at_its_deadline_is_shut_down():
    ours, server = socket.socketpair()
    server.settimeout(5)
    with ours, server, Cutoff().within(_Conn(ours), time.monotonic() + 0.05) as watch:
        assert server.recv(1) == b""  # the shutdown reaches the other end: end of stream
        assert watch.cut


def test_a_socket_whose_work_ended_before_its_deadline_is_left_alone():
    ours, server = socket.socketpair()
    watcher = Cutoff()
    with ours, server:
        with watcher.within(_Conn(ours), time.monotonic() + 0.05) as watch:
            pass
        # A later watch's deadline passing proves the watcher went past the first one's.
        other, peer = socket.socketpair()
        with other, peer:
            peer.settimeout(5)
            with watcher.within(_Conn(other), time.monotonic() + 0.1):
                assert peer.recv(1) == b""
        assert not watch.cut
        ours.sendall(b"x")
        server.settimeout(5)
        assert server.recv(1) == b"x"


def test_a_descriptor_number_taken_by_another_socket_since_the_watch_began_is_left_alone():
    """libpq closes the descriptor of a connection it finds dropped, inside the watched block;
    by the deadline the number may be another thread's socket."""
    ours, server = socket.socketpair()
    watch = cutoff.Watch(ours.fileno())
    theirs, their_peer = socket.socketpair()
    with ours, server, theirs, their_peer:
        os.dup2(theirs.fileno(), ours.fileno())  # the number now names their socket
        cutoff._shut_down(watch.fd, watch.socket)
        theirs.sendall(b"x")  # a socket shut down would raise BrokenPipeError here
        their_peer.settimeout(5)
        assert their_peer.recv(1) == b"x"
