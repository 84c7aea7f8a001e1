#!/usr/bin/env python3
"""Breaks CMD-2: the runner's socket is a SOCK_STREAM socket, not SOCK_DGRAM."""

from __future__ import annotations

import socket

from minimal_slave import Slave


class Broken(Slave):
    def runner_socket_type(self) -> int:
        return socket.SOCK_STREAM


if __name__ == "__main__":
    Broken().main()
