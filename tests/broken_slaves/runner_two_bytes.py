#!/usr/bin/env python3
"""Breaks CMD-2: the runner's socket comes with two bytes, not one NUL (the real master
reads one byte per fd: the second would be read by the next command's fd read)."""

from __future__ import annotations

import socket

from minimal_slave import Slave


class Broken(Slave):
    def send_runner_socket(self, theirs: socket.socket) -> None:
        assert self.local is not None
        socket.send_fds(self.local, [b"\0\0"], [theirs.fileno()])


if __name__ == "__main__":
    Broken().main()
