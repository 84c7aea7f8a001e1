#!/usr/bin/env python3
"""Breaks FRAME-3: a long error text is sent whole, not truncated to one message."""

from __future__ import annotations

from minimal_slave import PLAN_FILES, Slave


class Broken(Slave):
    def run_action(self, identifier: str) -> tuple[list[str], str | None]:
        files, error = super().run_action(identifier)
        if error is not None and identifier not in PLAN_FILES:
            # Names the identifier twice, as a traceback would: longer than one message.
            error = f"KeyError: {identifier!r}\n  no action named {identifier!r}\n"
        return files, error


if __name__ == "__main__":
    Broken().main()
