#!/usr/bin/env python3
"""Breaks CMD-6: the command runs without its empty arguments."""

from __future__ import annotations

import socket

from minimal_slave import Slave


class Broken(Slave):
    def run_command(self, sock: socket.socket, name: str, args: list[bytes], out_fd: int,
                    err_fd: int) -> None:
        super().run_command(sock, name, [arg for arg in args if arg], out_fd, err_fd)


if __name__ == "__main__":
    Broken().main()
