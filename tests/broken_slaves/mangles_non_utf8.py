#!/usr/bin/env python3
"""Breaks CMD-6: arguments are decoded as UTF-8 (bad bytes replaced) before the command
gets them."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def split_arguments(self, data: bytes) -> list[bytes]:
        text = data.decode("utf-8", "replace")
        return [arg.encode("utf-8") for arg in text.split("\0")[:-1]]


if __name__ == "__main__":
    Broken().main()
