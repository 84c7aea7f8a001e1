#!/usr/bin/env python3
"""Breaks SOCKET-3 / SOCKET-4: its own socketpair is of the other dialect's type."""

from __future__ import annotations

import socket

from minimal_slave import Slave


class Broken(Slave):
    def socket_type(self) -> int:
        return socket.SOCK_DGRAM if self.zeus else socket.SOCK_STREAM


if __name__ == "__main__":
    Broken().main()
