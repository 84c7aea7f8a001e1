"""What `zeus-fsm start` shows: a live table on a terminal, JSON lines for scripts, or plain lines.

Every view gets the same calls from the runtime:

- `node_changed(tree, node, trigger)`: a node's lifecycle moved (one call per transition);
- `refresh(tree)`: rows may have changed without a transition (files, blocked);
- `note(event, **fields)`: a restart, an error of the runtime's own, the exit;
- `settled(tree)`: nothing is left to boot or stop, and every reported file is watched.

`--json-status` writes one JSON object per line, each with "event" and "at"
(time.monotonic(), comparable across processes on Linux). "node" lines carry
one row: node, parent, state (the lifecycle's), status (what a person is
shown: "crashed", "blocked"...), pid, files, error (last line), runs, trigger
(null when the row changed without a transition). "settled" lines carry every
row under "nodes".
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import suppress
from typing import IO, Any, Protocol

from zeus_fsm.start.tree import Node, Tree

Row = dict[str, Any]


def row_of(tree: Tree, node: Node) -> Row:
    return {
        "node": node.identifier,
        "parent": node.parent.identifier if node.parent else None,
        "state": node.state,
        "status": tree.status(node),
        "pid": node.pid,
        "files": len(node.files),
        "error": tree.shown_error(node),
        "runs": node.runs,
    }


class StatusView(Protocol):
    def node_changed(self, tree: Tree, node: Node, trigger: str) -> None: ...
    def refresh(self, tree: Tree) -> None: ...
    def note(self, event: str, **fields: Any) -> None: ...
    def settled(self, tree: Tree) -> None: ...
    def close(self) -> None: ...


class _Rows:
    """The rows last shown, to tell which changed."""

    def __init__(self) -> None:
        self.shown: dict[str, Row] = {}

    def changed(self, tree: Tree) -> list[Row]:
        out = []
        for node in tree.order():
            row = row_of(tree, node)
            if self.shown.get(node.identifier) != row:
                self.shown[node.identifier] = row
                out.append(row)
        return out


class JsonStatus:
    """One JSON line per change on `out` (stdout by default), flushed at once."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        self._rows = _Rows()

    def _line(self, event: str, **fields: Any) -> None:
        record = {"event": event, "at": round(time.monotonic(), 6), **fields}
        with suppress(OSError, ValueError):  # a reader that went away stops nothing
            self.out.write(json.dumps(record) + "\n")
            self.out.flush()

    def node_changed(self, tree: Tree, node: Node, trigger: str) -> None:
        row = row_of(tree, node)
        self._rows.shown[node.identifier] = row
        self._line("node", trigger=trigger, **row)
        self.refresh(tree)  # a change of one node can block or unblock others

    def refresh(self, tree: Tree) -> None:
        for row in self._rows.changed(tree):
            self._line("node", trigger=None, **row)

    def note(self, event: str, **fields: Any) -> None:
        self._line(event, **fields)

    def settled(self, tree: Tree) -> None:
        self._line("settled", nodes=[row_of(tree, node) for node in tree.order()])

    def close(self) -> None:
        pass


class PlainLines:
    """Not a terminal and no --json-status: one readable line per change, no colours."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        self._rows = _Rows()

    def _print(self, text: str) -> None:
        with suppress(OSError, ValueError):
            self.out.write(text + "\n")
            self.out.flush()

    def _row(self, row: Row) -> None:
        pid = f" pid {row['pid']}" if row["pid"] else ""
        error = f": {row['error']}" if row["error"] else ""
        state = row["status"] if row["status"] == row["state"] else \
            f"{row['status']} ({row['state']})"
        self._print(f"{row['node']}: {state}{pid}, {row['files']} files{error}")

    def node_changed(self, tree: Tree, node: Node, trigger: str) -> None:
        self.refresh(tree)

    def refresh(self, tree: Tree) -> None:
        for row in self._rows.changed(tree):
            self._row(row)

    def note(self, event: str, **fields: Any) -> None:
        details = ", ".join(f"{key} {value}" for key, value in fields.items())
        self._print(f"-- {event}{': ' + details if details else ''}")

    def settled(self, tree: Tree) -> None:
        self._print("-- settled")

    def close(self) -> None:
        pass


_STYLES = {"connected": "green", "crashed": "bold red", "blocked": "yellow",
           "booting": "cyan", "spawning": "cyan", "stopped": "dim", "unbooted": "dim"}


class LiveTable:
    """A rich table redrawn in place on a terminal: one row per slave."""

    def __init__(self, title: str) -> None:
        from rich.console import Console
        from rich.live import Live

        self.title = title
        self._last_note = ""
        self._rows = _Rows()
        self._noted = False
        self._console = Console(stderr=False)
        # No refresh thread: the runtime redraws on every change it makes.
        self._live = Live(console=self._console, auto_refresh=False, transient=False)
        self._live.start()

    def _render(self, tree: Tree) -> None:
        from rich.table import Table

        table = Table(title=self.title, caption=self._last_note or None, expand=False)
        for column in ("slave", "state", "pid", "files", "last error"):
            table.add_column(column, no_wrap=column != "last error")
        for node in tree.order():
            row = row_of(tree, node)
            status = row["status"]
            table.add_row("  " * node.depth + node.identifier,
                          f"[{_STYLES.get(status, '')}]{status}[/]",
                          str(row["pid"] or ""), str(row["files"]), row["error"] or "")
        self._live.update(table, refresh=True)

    def node_changed(self, tree: Tree, node: Node, trigger: str) -> None:
        self._render(tree)

    def refresh(self, tree: Tree) -> None:
        if self._rows.changed(tree) or self._noted:  # redraw only what changed
            self._noted = False
            self._render(tree)

    def note(self, event: str, **fields: Any) -> None:
        details = ", ".join(f"{key} {value}" for key, value in fields.items())
        self._last_note = f"{time.strftime('%H:%M:%S')} {event}" + \
            (f": {details}" if details else "")
        self._noted = True

    def settled(self, tree: Tree) -> None:
        self._render(tree)

    def close(self) -> None:
        self._live.stop()
