#!/usr/bin/env python3
"""Breaks FRAME-2 (zeus): its messages have no terminating NUL (P is saved by its pipe's
NUL payload; R is not)."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def send(self, message: bytes) -> None:
        assert self.local is not None
        if self.zeus:
            self.local.sendall(message)
        else:
            self.local.send(message)


if __name__ == "__main__":
    Broken().main()
