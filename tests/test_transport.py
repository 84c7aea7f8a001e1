"""transport.py's own promises: reads never block, fds arrive as sent, kinds are told apart."""

from __future__ import annotations

import os
import socket
import time

import pytest

from zeus_fsm.protocol.events import FdKind
from zeus_fsm.transport import fds as transport


def test_the_raw_read_never_blocks_even_on_a_blocking_socket() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        assert ours.getblocking()
        with pytest.raises(BlockingIOError):
            transport._recvmsg_with_fds(ours, 16)
    finally:
        ours.close()
        theirs.close()


def test_receive_times_out_with_none_within_its_bound() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        started = time.monotonic()
        assert transport.receive(ours, 0.1) is None
        assert time.monotonic() - started < 1.0
    finally:
        ours.close()
        theirs.close()


def test_received_fds_are_the_ones_sent_and_close_on_exec() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    read_end, write_end = os.pipe()
    try:
        transport.send_with_fds(theirs, b"\0", [read_end, write_end])
        received = transport.receive(ours, 1.0)
        assert received is not None
        assert received.data == b"\0"
        assert received.kinds == (FdKind.FIFO, FdKind.FIFO_WRITE_END)
        assert not any(os.get_inheritable(fd) for fd in received.fds)
        kept = received.keep(0)
        assert received.fds == []
        os.write(write_end, b"x")
        assert os.read(kept, 1) == b"x"
        os.close(kept)
    finally:
        for fd in (read_end, write_end):
            os.close(fd)
        ours.close()
        theirs.close()


def test_stream_end_of_file_is_reported() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    theirs.close()
    try:
        received = transport.receive(ours, 1.0)
        assert received is not None and received.eof
    finally:
        ours.close()
