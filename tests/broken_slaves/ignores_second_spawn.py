#!/usr/bin/env python3
"""Breaks SPAWN-3 (zeus): handles only the first S of each read."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def split(self, data: bytes) -> list[bytes]:
        return super().split(data)[:1]


if __name__ == "__main__":
    Broken().main()
