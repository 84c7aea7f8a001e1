"""Where `zeus-fsm start`'s memory grows: tracemalloc snapshots around many restarts.

    .venv/bin/python -m benchmarks.trace_growth [--restarts 220] [--root-every 0]
                                                [--dialect spec] [--top 8]

bench_soak.py says *whether* RSS grows; this says *what* grows. It runs the
Supervisor in this process (the soak's plan, a JSON view read by a driver
thread that edits beta.txt, and root.txt every `--root-every`-th time), takes a
tracemalloc snapshot after 20 warm-up restarts and one at the end, each after
gc.collect() (cyclic garbage is not growth), and prints the bytes retained per
restart and the tracebacks that gained most. Then it counts the live sessions
and handshakes: with nothing kept, that is one per slave of the tree.

Used to find issue 14's leak: before the fix, 220 leaf restarts retained about
47 KB each, every traceback ending in a session's Handshake or Lifecycle built
by Master.spawn, 224 sessions alive for a tree of four; after, ~0.2 KB per
restart and falling with the count (a constant, not growth), 4 sessions alive.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import queue
import sys
import threading
import tracemalloc
from typing import Any

from benchmarks.start_tree import plan_directory
from zeus_fsm.master.session import SlaveSession
from zeus_fsm.protocol.machine import Handshake
from zeus_fsm.start.config import load
from zeus_fsm.start.supervisor import Supervisor
from zeus_fsm.start.view import JsonStatus
from zeus_fsm.transport.processes import become_subreaper

WARM_UP = 20
WAIT = 30.0


class Lines:
    """A text stream for JsonStatus whose lines land in a queue."""

    def __init__(self) -> None:
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue()

    def write(self, text: str) -> int:
        for line in text.splitlines():
            self.queue.put(json.loads(line))
        return len(text)

    def flush(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=220)
    parser.add_argument("--root-every", type=int, default=0, help="0: leaf restarts only")
    parser.add_argument("--dialect", default="spec")
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    become_subreaper()
    with plan_directory("soakplan") as directory:
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [str(directory), *filter(None, [os.environ.get("PYTHONPATH")])])
        lines = Lines()
        supervisor = Supervisor(load(directory / "zeus.json"), args.dialect,
                                JsonStatus(lines), debounce_ms=10, step_ms=10)  # type: ignore[arg-type]
        snapshots: list[tracemalloc.Snapshot] = []
        live: list[str] = []

        def settled(node: str | None = None, runs: int = 0) -> None:
            while True:
                event = lines.queue.get(timeout=WAIT)
                if event["event"] != "settled":
                    continue
                rows = {row["node"]: row for row in event["nodes"]}
                if all(r["state"] == "connected" and r["files"] for r in rows.values()) \
                        and (node is None or rows[node]["runs"] >= runs):
                    return

        def drive() -> None:
            try:
                settled()
                runs = {"boot": 1, "beta": 1}
                for n in range(1, args.restarts + 1):
                    root = args.root_every > 0 and n % args.root_every == 0
                    node, target = ("boot", "root.txt") if root else ("beta", "beta.txt")
                    runs["beta"] += root
                    runs[node] += 1
                    (directory / target).write_text(f"{n}\n", encoding="utf-8")
                    settled(node, runs[node])
                    if n == WARM_UP:
                        gc.collect()
                        tracemalloc.start(25)
                        snapshots.append(tracemalloc.take_snapshot())
                gc.collect()
                snapshots.append(tracemalloc.take_snapshot())
                objects = gc.get_objects()
                live.append(f"{sum(isinstance(o, SlaveSession) for o in objects)} sessions, "
                            f"{sum(isinstance(o, Handshake) for o in objects)} handshakes "
                            "alive")
            finally:
                supervisor.request_stop()

        driver = threading.Thread(target=drive)
        driver.start()
        with supervisor:
            supervisor.run()
        driver.join()
    if len(snapshots) < 2:
        sys.exit("the run ended before its snapshots")
    stats = snapshots[1].compare_to(snapshots[0], "traceback")
    grown = sum(s.size_diff for s in stats)
    print(f"{args.restarts - WARM_UP} restarts after {WARM_UP} warm-up ({args.dialect}): "
          f"{grown / 1024:+.0f} KiB retained, {grown / (args.restarts - WARM_UP):+.0f} bytes "
          f"per restart; {live[0] if live else ''}")
    for stat in stats[:args.top]:
        print(f"\n{stat.size_diff / 1024:+.1f} KiB in {stat.count_diff:+d} blocks")
        for line in stat.traceback.format(limit=8):  # the 8 most recent frames
            print(line)


if __name__ == "__main__":
    main()
