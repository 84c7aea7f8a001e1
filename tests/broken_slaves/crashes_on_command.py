#!/usr/bin/env python3
"""Breaks SPAWN-4 (SHOULD): exits when it receives a C message."""

from __future__ import annotations

import os

from minimal_slave import Slave


class Broken(Slave):
    def handle(self, message: bytes) -> None:
        if message.startswith(b"C:"):
            os._exit(3)
        super().handle(message)


if __name__ == "__main__":
    Broken().main()
