#!/usr/bin/env python3
"""Breaks CMD-6: a trailing empty argument is lost, as the Ruby runner's chomp-and-split
loses it; argc then does not match and the runner ends without running the command."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def split_arguments(self, data: bytes) -> list[bytes]:
        arguments = data.split(b"\0")[:-1]
        while arguments and not arguments[-1]:
            arguments.pop()
        return arguments


if __name__ == "__main__":
    Broken().main()
