"""From a file change to the affected slave connected again, under `zeus-fsm start`.

    .venv/bin/python -m benchmarks.bench_restart [--edits 30] [--dialect spec zeus]

Writes a small plan into a temp dir (boot -> alpha -> gamma, boot -> beta; each
action reads its own .txt file), runs `python -m zeus_fsm start --json-status`
on it, waits until the tree has settled, then edits one file --edits times,
waiting for the tree to settle again after each. Per edit it takes, from the
JSON lines (their "at" is time.monotonic(), the same clock here on Linux):

- detect:  the write -> the "restart" line (watchfiles' grouping + the loop waking);
- restart: the "restart" line -> the affected node's "connected" line;
- total:   the write -> connected: what a person editing the file waits.

Targets: beta.txt (a leaf child: one slave restarts) and root.txt (the root:
the whole tree of four is stopped and booted again, the command re-run).
Prints the median, and the 10th/90th percentiles.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from benchmarks.start_tree import Event, StartProcess, plan_directory

#: target file -> the node whose reconnection ends the measurement
TARGETS = {"beta.txt": "beta", "root.txt": "boot"}
WAIT = 15.0


class Start(StartProcess):
    def until(self, wanted: str, node: str | None = None, runs: int | None = None) -> Event:
        """The next line of event `wanted` (for a node: connected, with that many runs)."""
        deadline = time.monotonic() + WAIT
        while (left := deadline - time.monotonic()) > 0:
            event = self.lines.get(timeout=left)
            if event is None:
                sys.exit("zeus-fsm start exited")
            if event["event"] != wanted:
                continue
            if node is None or (event["node"] == node and event["state"] == "connected"
                                and event["runs"] == runs):
                return event
        sys.exit(f"no {wanted} line within {WAIT}s")

    def settled(self) -> None:
        while True:
            event = self.until("settled")
            if all(row["state"] == "connected" and row["files"] for row in event["nodes"]):
                return

    def stop(self) -> None:
        self.process.terminate()
        if self.process.wait(timeout=WAIT) != 0:
            sys.exit("zeus-fsm start did not exit cleanly")


Sample = tuple[float, float, float]  # detect, restart, total (seconds)


def measure(dialect: str, target: str, edits: int, debounce: int) -> list[Sample]:
    with plan_directory("bplan") as directory:
        start = Start(directory, dialect, debounce)
        try:
            start.settled()
            node = TARGETS[target]
            samples: list[Sample] = []
            for edit in range(edits):
                written = time.monotonic()
                (directory / target).write_text(f"{edit}\n", encoding="utf-8")
                restart = start.until("restart")["at"]
                connected = start.until("node", node, runs=edit + 2)["at"]
                samples.append((restart - written, connected - restart, connected - written))
                start.settled()
            return samples
        finally:
            start.stop()


def describe(values: list[float]) -> str:
    deciles = statistics.quantiles(values, n=10) if len(values) >= 2 else values * 9
    return (f"{statistics.median(values) * 1000:6.1f} ms "
            f"(p10 {deciles[0] * 1000:5.1f}, p90 {deciles[-1] * 1000:5.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--debounce", type=int, default=300,
                        help="zeus-fsm start --debounce (ms): the longest grouping")
    parser.add_argument("--dialect", nargs="+", default=["spec", "zeus"])
    args = parser.parse_args()
    print(f"zeus-fsm start: file change -> slave connected again; {os.cpu_count()} CPUs; "
          f"{args.edits} edits each; --debounce {args.debounce}")
    for dialect in args.dialect:
        for target, node in TARGETS.items():
            samples = measure(dialect, target, args.edits, args.debounce)
            detect, restart, total = (list(column) for column in zip(*samples, strict=True))
            print(f"  {dialect:4} {target:9} ({node} restarts)")
            print(f"      detect  {describe(detect)}")
            print(f"      restart {describe(restart)}")
            print(f"      total   {describe(total)}")


if __name__ == "__main__":
    main()
