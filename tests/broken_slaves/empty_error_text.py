#!/usr/bin/env python3
"""Breaks RESULT-3: a failed action gets an empty error text (R:)."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def send_result(self, error: str | None) -> None:
        if error is None:
            super().send_result(None)
        else:
            self.send(b"R:")


if __name__ == "__main__":
    Broken().main()
