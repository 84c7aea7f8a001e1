#!/usr/bin/env python3
"""Breaks SOCKET-2: sends two fds (its socket and a copy) in the registration datagram."""

from __future__ import annotations

import os
import socket

from minimal_slave import Slave


class Broken(Slave):
    def send_socket(self) -> socket.socket:
        local, remote = socket.socketpair(socket.AF_UNIX, self.socket_type())
        assert self.master is not None
        copy = os.dup(remote.fileno())
        socket.send_fds(self.master, [b"\0"], [remote.fileno(), copy])
        remote.close()
        os.close(copy)
        return local


if __name__ == "__main__":
    Broken().main()
