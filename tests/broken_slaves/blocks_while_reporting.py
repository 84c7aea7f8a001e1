#!/usr/bin/env python3
"""Breaks FILES-7: once child_lazy has its result, its main loop watches for loaded
files forever and never reads S again."""

from __future__ import annotations

import time

from minimal_slave import Slave


class Broken(Slave):
    def serve(self) -> None:
        if self.lazy_due is None:
            super().serve()
            return
        time.sleep(max(0.0, self.lazy_due - time.monotonic()))
        self.report_lazy()
        while True:  # "are there more loaded files?" - S waits unread
            time.sleep(0.1)


if __name__ == "__main__":
    Broken().main()
