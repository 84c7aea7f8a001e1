#!/usr/bin/env python3
"""Breaks RESULT-4 (SHOULD): the error text does not end in a newline."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def send_result(self, error: str | None) -> None:
        super().send_result(None if error is None else error.rstrip("\n"))


if __name__ == "__main__":
    Broken().main()
