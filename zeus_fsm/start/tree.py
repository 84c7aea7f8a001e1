"""The tree of slave nodes `zeus-fsm start` keeps booted: sans-I/O decisions only.

A Node is one slave of the plan, across restarts. Its state is a
lifecycle.Lifecycle of its own, moved with the same triggers the master's
session of its current process fires (`Tree.moved`), plus the `reset` the tree
itself decides on when the node is to boot again. From those states alone the
tree answers the runtime's questions:

- which node boots next (`ready_to_boot`: unbooted, parent connected, in plan order);
- which live nodes lost an ancestor (`orphans`: stop them, deepest first);
- what a set of changed files means (`plan_restart`: the topmost nodes that
  loaded one of them, each restarted once with everything below it);
- what to show (`status`: a crashed node's children are "blocked" by its error).

Nothing here reads a clock or a file: times and ctimes are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import attrs

from zeus_fsm.protocol.lifecycle import Lifecycle
from zeus_fsm.start.config import NodeSpec

#: A change whose ctime is this much older than a node's start was seen by that boot
#: already. File times come from a coarse kernel clock (a jiffy or so behind
#: time.time_ns()): the margin keeps "changed just after the start" from looking older.
SEEN_MARGIN_NS = 50_000_000


@attrs.define(eq=False)
class Node:
    """One slave of the plan. Mutable; the Tree and the runtime write it."""

    identifier: str
    parent: Node | None
    depth: int
    children: list[Node] = attrs.Factory(list)
    lifecycle: Lifecycle = attrs.Factory(Lifecycle)
    pid: int | None = None
    #: Paths the current run reported (or the last one, once it is over).
    files: frozenset[bytes] = frozenset()
    #: The run before: still watched while this run is not connected, so that
    #: editing what the last good run loaded can still bring a failed node back.
    previous_files: frozenset[bytes] = frozenset()
    #: The full error of the latest run (R:<error> text or broken rule); None if none.
    error: str | None = None
    #: time.time_ns() when the latest run was started (root spawned or S sent).
    started_ns: int | None = None
    #: How many runs were started.
    runs: int = 0

    @property
    def state(self) -> str:
        return self.lifecycle.state

    @property
    def error_line(self) -> str | None:
        """The last non-blank line of the error (a traceback's "Error: message" line)."""
        if self.error is None:
            return None
        lines = [line.strip() for line in self.error.splitlines() if line.strip()]
        return lines[-1] if lines else self.error

    def watched_files(self) -> frozenset[bytes]:
        if self.state == "connected":
            return self.files
        return self.files | self.previous_files

    def ancestors(self) -> Iterator[Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


@attrs.frozen
class RestartPlan:
    """What a batch of changed files asks for."""

    #: The topmost affected nodes, in plan order; each restarts with its subtree.
    tops: tuple[Node, ...]
    #: Live nodes to stop, deepest first (a parent is stopped after its children).
    stop: tuple[Node, ...]
    #: Per top node, the changed paths that made it restart.
    because: Mapping[str, tuple[bytes, ...]]

    @property
    def restarts_root(self) -> bool:
        return any(node.parent is None for node in self.tops)


class Tree:
    """The nodes of one plan, root first, and the decisions made from their states."""

    def __init__(self, root: NodeSpec) -> None:
        self.nodes: dict[str, Node] = {}
        self.root = self._build(root, None)

    def _build(self, spec: NodeSpec, parent: Node | None) -> Node:
        node = Node(spec.identifier, parent, 0 if parent is None else parent.depth + 1)
        self.nodes[spec.identifier] = node
        node.children = [self._build(child, node) for child in spec.children]
        return node

    # ---- structure ---------------------------------------------------------------

    def order(self) -> list[Node]:
        """Every node in plan order (a parent before its children): the boot order."""
        return list(_preorder(self.root))

    def subtree(self, node: Node) -> list[Node]:
        return list(_preorder(node))

    def carry_over(self, old: Tree, kept: Iterable[str]) -> None:
        """A new plan's tree takes over the running slaves it keeps (zeus.json changed):
        each kept node continues with the old node's lifecycle, pid, files and error."""
        for identifier in kept:
            mine, theirs = self.nodes[identifier], old.nodes[identifier]
            mine.lifecycle, mine.pid, mine.error = theirs.lifecycle, theirs.pid, theirs.error
            mine.files, mine.previous_files = theirs.files, theirs.previous_files
            mine.started_ns, mine.runs = theirs.started_ns, theirs.runs

    # ---- following the master's lifecycles ------------------------------------------

    def moved(self, node: Node, trigger: str, now_ns: int) -> None:
        """The node's current process fired `trigger` in the master: follow it.

        A process's own `reset` (the master reusing a root session) follows the
        tree's: the node is already unbooted then, and stays so.
        """
        if trigger == "reset" and node.state == "unbooted":
            return
        if trigger == "start":
            node.previous_files = node.files or node.previous_files
            node.files, node.error, node.pid = frozenset(), None, None
            node.started_ns = now_ns
            node.runs += 1
        node.lifecycle.fire(trigger)

    def reset(self, node: Node) -> bool:
        """A stopped node may boot again (its error stays until the next run starts)."""
        if node.state != "stopped":
            return False
        node.lifecycle.fire("reset")
        return True

    # ---- decisions -------------------------------------------------------------------

    def ready_to_boot(self) -> list[Node]:
        """Unbooted nodes whose parent is connected (the root needs none), plan order."""
        return [node for node in self.order() if node.state == "unbooted"
                and (node.parent is None or node.parent.state == "connected")]

    def orphans(self) -> list[Node]:
        """Live nodes below a node that is not connected any more, deepest first."""
        found = [node for node in self.order() if node.lifecycle.live
                 and any(a.state != "connected" for a in node.ancestors())]
        return sorted(found, key=lambda node: node.depth, reverse=True)

    def settled(self) -> bool:
        """Nothing left to boot or stop: every node is connected, failed, or waits on a
        failed ancestor."""
        return not self.ready_to_boot() and not self.orphans() and all(
            node.state in ("connected", "stopped", "unbooted") for node in self.order())

    def plan_restart(self, changed: Iterable[bytes],
                     ctimes: Mapping[bytes, int | None]) -> RestartPlan:
        """Which nodes a batch of changed paths restarts.

        A node is affected when it watches a changed path, unless its latest run
        started after the change (by `ctimes`, the paths' st_ctime_ns; None for a
        path that is gone, which always counts): that run read the new content
        already. Each affected node restarts with its whole subtree, so only the
        topmost ones are listed.
        """
        changed = set(changed)
        because: dict[str, list[bytes]] = {}
        for node in self.order():
            if node.state == "unbooted":
                continue  # no run to restart: it boots when its parent is connected
            hits = sorted(changed & node.watched_files())
            fresh = [path for path in hits if not _seen_by(node, ctimes.get(path))]
            if fresh:
                because[node.identifier] = fresh
        tops = tuple(node for node in self.order() if node.identifier in because
                     and not any(a.identifier in because for a in node.ancestors()))
        stop = sorted((node for top in tops for node in self.subtree(top) if node.lifecycle.live),
                      key=lambda node: node.depth, reverse=True)
        return RestartPlan(tops, tuple(stop),
                           {top.identifier: tuple(because[top.identifier]) for top in tops})

    def watched(self) -> dict[bytes, list[Node]]:
        """Every path worth watching, with the nodes that loaded it."""
        out: dict[bytes, list[Node]] = {}
        for node in self.order():
            for path in node.watched_files():
                out.setdefault(path, []).append(node)
        return out

    # ---- what to show --------------------------------------------------------------

    def blocked_by(self, node: Node) -> Node | None:
        """The nearest failed ancestor of a node that cannot boot because of it."""
        if node.lifecycle.live or node.state == "connected":
            return None
        for ancestor in node.ancestors():
            if ancestor.state != "connected" and ancestor.error is not None:
                return ancestor
        return None

    def status(self, node: Node) -> str:
        """The state to show: the lifecycle's, with a failed run called "crashed" and a
        node held back by a failed ancestor "blocked"."""
        state = node.state
        if state == "stopped" and node.error is not None:
            return "crashed"
        if state in ("unbooted", "stopped") and self.blocked_by(node) is not None:
            return "blocked"
        return state

    def shown_error(self, node: Node) -> str | None:
        """The error line a row shows: its own, or the one of the ancestor blocking it."""
        if node.error is not None and not node.lifecycle.live:
            return node.error_line
        if node.state == "crashed":
            return node.error_line
        blocker = self.blocked_by(node)
        if blocker is not None:
            return f"{blocker.identifier}: {blocker.error_line}"
        return None


def _preorder(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _preorder(child)


def _seen_by(node: Node, ctime_ns: int | None) -> bool:
    """Did the node's latest run start after this change? (Unknown: assume not.)"""
    if ctime_ns is None or node.started_ns is None:
        return False
    return ctime_ns < node.started_ns - SEEN_MARGIN_NS
