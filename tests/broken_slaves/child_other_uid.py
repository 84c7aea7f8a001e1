#!/usr/bin/env python3
"""Breaks PID-6: a child becomes `nobody` before it makes its socketpair (needs root)."""

from __future__ import annotations

import os
import pwd
import socket

from minimal_slave import Slave


class Broken(Slave):
    registered_once = False  # the root's socket is made first, as its own uid

    def send_socket(self) -> socket.socket:
        if self.registered_once:
            nobody = pwd.getpwnam("nobody")
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
        self.registered_once = True
        return super().send_socket()


if __name__ == "__main__":
    Broken().main()
