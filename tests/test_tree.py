"""tree.py without processes: boot order, orphans, blocking, restart planning."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from zeus_fsm.protocol.errors import ProtocolError
from zeus_fsm.start.config import NodeSpec
from zeus_fsm.start.tree import SEEN_MARGIN_NS, Tree

#   boot
#   ├── alpha
#   │   └── gamma
#   └── beta
PLAN = NodeSpec("boot", (NodeSpec("alpha", (NodeSpec("gamma"),)), NodeSpec("beta")))
T0 = 1_000_000_000_000


def connect(tree: Tree, name: str, files: Iterable[bytes] = (), at: int = T0) -> None:
    node = tree.nodes[name]
    for trigger in ("start", "register", "succeed"):
        tree.moved(node, trigger, at)
    node.files = frozenset(files)


def crash(tree: Tree, name: str, error: str, files: Iterable[bytes] = ()) -> None:
    node = tree.nodes[name]
    for trigger in ("start", "register", "fail", "stop"):
        tree.moved(node, trigger, T0)
    node.error = error
    node.files = frozenset(files)


def boot_all(tree: Tree) -> None:
    connect(tree, "boot", {b"/app/plan.py", b"/app/root.txt"})
    connect(tree, "alpha", {b"/app/alpha.txt"})
    connect(tree, "gamma", {b"/app/gamma.txt"})
    connect(tree, "beta", {b"/app/beta.txt", b"/app/shared.txt"})


def names(nodes: object) -> list[str]:
    return [node.identifier for node in nodes]  # type: ignore[attr-defined]


def test_boot_order_is_parent_first_and_waits_for_connected_parents() -> None:
    tree = Tree(PLAN)
    assert names(tree.order()) == ["boot", "alpha", "gamma", "beta"]
    assert names(tree.ready_to_boot()) == ["boot"]
    tree.moved(tree.root, "start", T0)
    assert tree.ready_to_boot() == []  # spawning is not connected
    tree.moved(tree.root, "register", T0)
    tree.moved(tree.root, "succeed", T0)
    assert names(tree.ready_to_boot()) == ["alpha", "beta"]
    connect(tree, "alpha")
    assert names(tree.ready_to_boot()) == ["gamma", "beta"]


def test_node_follows_the_lifecycle_and_refuses_what_it_forbids() -> None:
    tree = Tree(PLAN)
    alpha = tree.nodes["alpha"]
    with pytest.raises(ProtocolError):
        tree.moved(alpha, "succeed", T0)  # never started
    assert alpha.state == "unbooted"
    connect(tree, "alpha")
    assert (alpha.state, alpha.runs, alpha.started_ns) == ("connected", 1, T0)


def test_a_session_reset_after_the_tree_reset_is_not_a_second_reset() -> None:
    tree = Tree(PLAN)
    connect(tree, "boot")
    tree.moved(tree.root, "stop", T0)
    assert tree.reset(tree.root)
    tree.moved(tree.root, "reset", T0)  # the master reusing the root's session
    assert tree.root.state == "unbooted"
    assert not tree.reset(tree.root)  # only a stopped node resets


def test_a_crashed_parent_blocks_its_children_with_its_error() -> None:
    tree = Tree(PLAN)
    connect(tree, "boot")
    crash(tree, "alpha", "Traceback...\nRuntimeError: alpha.txt says fail\n")
    gamma = tree.nodes["gamma"]
    assert tree.status(tree.nodes["alpha"]) == "crashed"
    assert tree.shown_error(tree.nodes["alpha"]) == "RuntimeError: alpha.txt says fail"
    assert tree.status(gamma) == "blocked"
    assert tree.shown_error(gamma) == "alpha: RuntimeError: alpha.txt says fail"
    assert names(tree.ready_to_boot()) == ["beta"]  # gamma waits; beta's parent is fine
    connect(tree, "beta")
    assert tree.settled()


def test_live_children_of_a_parent_that_went_away_are_orphans_deepest_first() -> None:
    tree = Tree(PLAN)
    boot_all(tree)
    assert tree.orphans() == []
    tree.moved(tree.root, "fail", T0)
    assert names(tree.orphans()) == ["gamma", "alpha", "beta"]
    assert not tree.settled()


def test_a_child_only_file_restarts_that_child_alone() -> None:
    tree = Tree(PLAN)
    boot_all(tree)
    plan = tree.plan_restart({b"/app/beta.txt"}, {b"/app/beta.txt": T0 + 1})
    assert names(plan.tops) == ["beta"]
    assert names(plan.stop) == ["beta"]
    assert not plan.restarts_root
    assert plan.because == {"beta": (b"/app/beta.txt",)}


def test_a_middle_file_restarts_its_subtree_children_first() -> None:
    tree = Tree(PLAN)
    boot_all(tree)
    plan = tree.plan_restart({b"/app/alpha.txt", b"/app/gamma.txt"}, {})
    assert names(plan.tops) == ["alpha"]  # gamma restarts with alpha, once
    assert names(plan.stop) == ["gamma", "alpha"]


def test_a_root_file_restarts_everything() -> None:
    tree = Tree(PLAN)
    boot_all(tree)
    plan = tree.plan_restart({b"/app/plan.py", b"/app/beta.txt"}, {})
    assert names(plan.tops) == ["boot"]
    assert plan.restarts_root
    assert names(plan.stop) == ["gamma", "alpha", "beta", "boot"]


def test_unwatched_files_and_unbooted_nodes_restart_nothing() -> None:
    tree = Tree(PLAN)
    connect(tree, "boot", {b"/app/plan.py"})
    assert tree.plan_restart({b"/app/other.txt"}, {}).tops == ()
    tree.nodes["alpha"].previous_files = frozenset({b"/app/alpha.txt"})  # unbooted: no run
    assert tree.plan_restart({b"/app/alpha.txt"}, {}).tops == ()


def test_a_change_the_latest_run_already_read_is_coalesced_away() -> None:
    tree = Tree(PLAN)
    boot_all(tree)
    path = b"/app/beta.txt"
    before_start = T0 - SEEN_MARGIN_NS - 1
    assert tree.plan_restart({path}, {path: before_start}).tops == ()
    # Within the margin of the start, or after it, or gone: restart.
    for ctime in (T0 - SEEN_MARGIN_NS + 1, T0 + 5, None):
        assert names(tree.plan_restart({path}, {path: ctime}).tops) == ["beta"]


def test_a_failed_run_still_watches_what_the_last_run_loaded() -> None:
    tree = Tree(PLAN)
    connect(tree, "boot")
    connect(tree, "beta", {b"/app/beta.txt"})
    beta = tree.nodes["beta"]
    tree.moved(beta, "stop", T0)
    tree.reset(beta)
    crash(tree, "beta", "boom")  # the new run crashed before reporting anything
    assert beta.files == frozenset()
    assert b"/app/beta.txt" in tree.watched()
    assert names(tree.plan_restart({b"/app/beta.txt"}, {}).tops) == ["beta"]
    tree.reset(beta)
    connect(tree, "beta", {b"/app/beta2.txt"}, at=T0 + 10)
    assert b"/app/beta.txt" not in tree.watched()  # connected: only what this run loaded


def test_a_crashed_node_is_not_booted_again_until_something_changes() -> None:
    tree = Tree(PLAN)
    connect(tree, "boot")
    crash(tree, "beta", "boom", {b"/app/beta.txt"})
    assert "beta" not in names(tree.ready_to_boot())
    plan = tree.plan_restart({b"/app/beta.txt"}, {})
    assert plan.stop == ()  # nothing live to stop
    assert all(tree.reset(node) for node in plan.tops)
    assert "beta" in names(tree.ready_to_boot())
