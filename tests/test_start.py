"""`zeus-fsm start` end to end: real slaves, real files, read through --json-status.

Each test writes a small plan into a temp dir whose actions read files there:

    boot (reads root.txt, raises if it says "fail"; loads tplan.py itself)
    ├── alpha (reads alpha.txt; raises if it says "fail")
    │   └── gamma (reads gamma.txt)
    └── beta (reads beta.txt)

and runs `python -m zeus_fsm start CONFIG --json-status` in a subprocess. Every
read of its output is bounded; every test ends with SIGTERM and checks that no
process of the tree is left (in /proc).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from start_harness import WAIT, Event, Start, all_connected, leftovers, pid_map

from zeus_fsm.start.config import ConfigError, load, parse

PLAN = textwrap.dedent('''
    import os

    HERE = os.path.dirname(os.path.realpath(__file__))


    def _read(name):
        with open(os.path.join(HERE, name), encoding="utf-8") as file:
            return file.read().strip()


    class Plan:
        def boot(self):
            if _read("root.txt") == "fail":
                raise RuntimeError("root.txt says fail")

        def alpha(self):
            if _read("alpha.txt") == "fail":
                raise RuntimeError("alpha.txt says fail")

        def beta(self):
            _read("beta.txt")

        def gamma(self):
            _read("gamma.txt")

        def delta(self):
            _read("gamma.txt")
''')

CONFIG = {
    "command": ["{python}", "-m", "zeus_fsm.slave", "--plan", "tplan:Plan"],
    "plan": {"boot": {"alpha": {"gamma": {}}, "beta": {}, "console": ["c"]}},
}

@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    (tmp_path / "tplan.py").write_text(PLAN, encoding="utf-8")
    for name in ("root", "alpha", "beta", "gamma"):
        (tmp_path / f"{name}.txt").write_text(f"{name} 1\n", encoding="utf-8")
    (tmp_path / "zeus.json").write_text(json.dumps(CONFIG), encoding="utf-8")
    return tmp_path


@pytest.fixture(params=["spec", "zeus"])
def start(plan_dir: Path, request: pytest.FixtureRequest) -> Iterator[Start]:
    running = Start(plan_dir / "zeus.json", request.param)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            code = running.stop()
            assert code == 0
            assert running.seen[-1]["event"] == "exit" if running.seen else True
        assert leftovers(running.pids, running.root_pid) == []


def touch(path: Path) -> None:
    """What `touch` does: new times, same content (an edit restarts too, see below)."""
    os.utime(path)


def restart_of(start: Start, nodes: list[str]) -> Event:
    return start.wait_for(lambda e: e["event"] == "restart", f"a restart of {nodes}")


def test_child_file_restarts_only_that_child(start: Start, plan_dir: Path) -> None:
    before = pid_map(start.settled(all_connected, "the whole tree connected"))
    assert len(set(before.values())) == 4

    touch(plan_dir / "beta.txt")
    event = restart_of(start, ["beta"])
    assert event["nodes"] == ["beta"]
    assert event["files"] == [str(plan_dir / "beta.txt")]
    after = start.settled(lambda rows: all_connected(rows) and rows["beta"]["runs"] == 2,
                          "beta connected again")
    assert after["beta"]["pid"] != before["beta"]
    assert {name: row["pid"] for name, row in after.items() if name != "beta"} == \
        {name: pid for name, pid in before.items() if name != "beta"}
    assert [after[name]["runs"] for name in ("boot", "alpha", "gamma")] == [1, 1, 1]

    # A file loaded by a grandchild restarts the grandchild only, not its parent.
    touch(plan_dir / "gamma.txt")
    assert restart_of(start, ["gamma"])["nodes"] == ["gamma"]
    again = start.settled(lambda rows: all_connected(rows) and rows["gamma"]["runs"] == 2,
                          "gamma connected again")
    assert again["gamma"]["pid"] != before["gamma"]
    assert again["alpha"]["pid"] == before["alpha"]


def test_changes_close_together_are_one_restart(start: Start, plan_dir: Path) -> None:
    start.settled(all_connected, "the whole tree connected")
    for round_ in range(5):  # an editor saving twice, a formatter, a checkout...
        (plan_dir / "beta.txt").write_text(f"beta {round_}\n", encoding="utf-8")
        touch(plan_dir / "gamma.txt")
    event = restart_of(start, ["beta", "gamma"])
    assert sorted(event["nodes"]) == ["beta", "gamma"]
    rows = start.settled(lambda rows: all_connected(rows) and rows["beta"]["runs"] == 2
                         and rows["gamma"]["runs"] == 2, "beta and gamma connected again")
    assert rows["alpha"]["runs"] == 1
    time.sleep(0.3)  # longer than the debounce: a split batch would restart again by now
    late = [e for e in drain(start) if e["event"] == "restart"]
    assert late == []


def drain(start: Start) -> list[Event]:
    """The lines already written (no waiting)."""
    out: list[Event] = []
    while True:
        try:
            event = start.next_event(0.0)
        except queue.Empty:
            return out
        if event is None:
            return out
        out.append(event)


def test_root_file_restarts_the_whole_tree(start: Start, plan_dir: Path) -> None:
    before = pid_map(start.settled(all_connected, "the whole tree connected"))
    touch(plan_dir / "root.txt")
    assert restart_of(start, ["boot"])["nodes"] == ["boot"]
    after = start.settled(lambda rows: all_connected(rows)
                          and all(row["runs"] == 2 for row in rows.values()),
                          "every node booted a second time")
    assert all(after[name]["pid"] != pid for name, pid in before.items())
    # The old tree is gone, not merely replaced in the view.
    assert leftovers(set(before.values()), before["boot"]) == []


def test_failing_child_shows_crashed_blocks_its_child_and_comes_back_when_fixed(
        plan_dir: Path) -> None:
    (plan_dir / "alpha.txt").write_text("fail\n", encoding="utf-8")
    start = Start(plan_dir / "zeus.json", "zeus")
    try:
        rows = start.settled(lambda rows: rows["alpha"]["status"] == "crashed"
                             and rows["beta"]["state"] == "connected", "alpha crashed")
        assert rows["alpha"]["error"] == "RuntimeError: alpha.txt says fail"
        assert rows["alpha"]["state"] == "stopped"  # the master stopped it after draining
        assert (rows["gamma"]["status"], rows["gamma"]["runs"]) == ("blocked", 0)
        assert rows["gamma"]["error"] == "alpha: RuntimeError: alpha.txt says fail"
        assert any(e["event"] == "node" and e["node"] == "alpha" and e["state"] == "crashed"
                   and e["error"] == "RuntimeError: alpha.txt says fail" for e in start.seen)
        beta_pid = rows["beta"]["pid"]

        (plan_dir / "alpha.txt").write_text("fixed\n", encoding="utf-8")
        assert restart_of(start, ["alpha"])["nodes"] == ["alpha"]
        fixed = start.settled(all_connected, "alpha and gamma connected")
        assert (fixed["alpha"]["runs"], fixed["gamma"]["runs"]) == (2, 1)
        assert fixed["alpha"]["error"] is None and fixed["gamma"]["error"] is None
        assert fixed["beta"]["pid"] == beta_pid
    finally:
        code = start.stop()
    assert code == 0
    assert leftovers(start.pids, start.root_pid) == []


def test_a_crashed_root_blocks_everything_until_fixed(plan_dir: Path) -> None:
    (plan_dir / "root.txt").write_text("fail\n", encoding="utf-8")
    start = Start(plan_dir / "zeus.json", "spec")
    try:
        rows = start.settled(lambda rows: rows["boot"]["status"] == "crashed", "boot crashed")
        assert rows["boot"]["error"] == "RuntimeError: root.txt says fail"
        assert {rows[n]["status"] for n in ("alpha", "beta", "gamma")} == {"blocked"}
        assert rows["gamma"]["error"] == "boot: RuntimeError: root.txt says fail"
        (plan_dir / "root.txt").write_text("fixed\n", encoding="utf-8")
        fixed = start.settled(all_connected, "the whole tree connected")
        assert [fixed[n]["runs"] for n in ("boot", "alpha", "beta", "gamma")] == [2, 1, 1, 1]
    finally:
        assert start.stop() == 0
    assert leftovers(start.pids, start.root_pid) == []


def test_a_child_that_dies_takes_its_subtree_down_until_its_file_changes(
        start: Start, plan_dir: Path) -> None:
    before = pid_map(start.settled(all_connected, "the whole tree connected"))
    os.kill(before["alpha"], signal.SIGKILL)
    rows = start.settled(lambda rows: rows["alpha"]["status"] == "crashed"
                         and rows["gamma"]["status"] == "blocked", "alpha crashed")
    assert rows["gamma"]["state"] == "unbooted"  # stopped by the master, reset to wait
    assert rows["alpha"]["error"] in ("the slave's process exited",  # spec: seen by its pidfd
                                      "the slave closed its channel (it exited?)")  # zeus: EOF
    assert leftovers({before["gamma"]}, None) == []
    assert (rows["beta"]["pid"], rows["boot"]["pid"]) == (before["beta"], before["boot"])
    touch(plan_dir / "alpha.txt")
    back = start.settled(all_connected, "alpha and gamma connected again")
    assert (back["alpha"]["runs"], back["gamma"]["runs"]) == (2, 2)


def test_sigterm_stops_every_slave_and_exits_zero(plan_dir: Path) -> None:
    start = Start(plan_dir / "zeus.json", "spec")
    rows = start.settled(all_connected, "the whole tree connected")
    pids = set(pid_map(rows).values())
    assert leftovers(pids, rows["boot"]["pid"]) != []  # the check sees a live tree
    assert start.stop() == 0
    assert leftovers(pids, rows["boot"]["pid"]) == []
    tail = [e for e in start.seen if e["event"] in ("node", "exit")][-5:]
    assert [e.get("state") for e in tail[:4]] == ["stopped"] * 4
    assert tail[-1] == {"event": "exit", "at": tail[-1]["at"], "code": 0}


def test_default_config_boots_the_demo_plan_with_its_crashing_child(tmp_path: Path) -> None:
    start = Start(Path(__file__).parents[1] / "zeus_fsm" / "examples" / "zeus.json", "spec",
                  tmp_path / ".zeus.sock")
    try:
        rows = start.settled(lambda rows: rows["child_fail"]["status"] == "crashed"
                             and rows["child_lazy"]["files"] > 0, "the demo tree settled")
        assert [rows[n]["state"] for n in ("boot", "child_ok", "child_lazy")] == \
            ["connected"] * 3
        assert "fails on purpose" in rows["child_fail"]["error"]
    finally:
        assert start.stop() == 0
    assert leftovers(start.pids, start.root_pid) == []


# ---- the runtime's own faults ----------------------------------------------------------


def write_config(plan_dir: Path, config: dict[str, Any] | str) -> None:
    text = config if isinstance(config, str) else json.dumps(config)
    (plan_dir / "zeus.json").write_text(text, encoding="utf-8")


def note(start: Start, event: str, words: str) -> Event:
    return start.wait_for(lambda e: e["event"] == event and words in e.get("message", ""),
                          f"a {event} line saying {words!r}")


def test_a_config_edited_into_invalid_json_keeps_the_tree_until_fixed(
        start: Start, plan_dir: Path) -> None:
    before = pid_map(start.settled(all_connected, "the whole tree connected"))
    write_config(plan_dir, '{"command": ["x"],\n "plan": ')
    error = note(start, "error", "invalid JSON")
    assert "zeus.json:2:" in error["message"] and "the running tree is kept" in error["message"]
    assert leftovers(set(before.values()), None) != []  # still running
    touch(plan_dir / "beta.txt")  # and still restarting what changes
    rows = start.settled(lambda rows: all_connected(rows) and rows["beta"]["runs"] == 2,
                         "beta connected again")
    assert {n: p for n, p in pid_map(rows).items() if n != "beta"} == \
        {n: p for n, p in before.items() if n != "beta"}
    write_config(plan_dir, CONFIG)
    note(start, "config", "is valid again")
    touch(plan_dir / "gamma.txt")
    start.settled(lambda rows: all_connected(rows) and rows["gamma"]["runs"] == 2,
                  "gamma connected again after the fix")


def test_a_valid_config_change_is_applied_restarting_only_what_changed(
        start: Start, plan_dir: Path) -> None:
    before = pid_map(start.settled(all_connected, "the whole tree connected"))
    changed = {**CONFIG, "plan": {"boot": {"alpha": {"gamma": {}, "delta": {}},
                                           "console": ["c"]}}}
    write_config(plan_dir, changed)
    event = note(start, "config", "changed")
    assert (event["added"], event["removed"]) == (["delta"], ["beta"])
    rows = start.settled(lambda rows: "beta" not in rows and all_connected(rows),
                         "delta connected, beta gone")
    assert rows["delta"]["parent"] == "alpha" and rows["delta"]["runs"] == 1
    assert {n: rows[n]["pid"] for n in ("boot", "alpha", "gamma")} == \
        {n: before[n] for n in ("boot", "alpha", "gamma")}
    assert leftovers({before["beta"]}, None) == []
    # A new command runs the whole tree again.
    command = ["{python}", "-B", "-m", "zeus_fsm.slave", "--plan", "tplan:Plan"]
    write_config(plan_dir, {**changed, "command": command})
    note(start, "config", "the command changed")
    again = start.settled(lambda rows: all_connected(rows) and rows["boot"]["runs"] == 2,
                          "the tree booted with the new command")
    assert all(again[n]["pid"] != rows[n]["pid"] for n in again)
    assert leftovers(set(pid_map(rows).values()), rows["boot"]["pid"]) == []


def test_a_command_that_cannot_start_is_refused_and_the_tree_kept(plan_dir: Path) -> None:
    start = Start(plan_dir / "zeus.json", "spec")
    try:
        before = pid_map(start.settled(all_connected, "the whole tree connected"))
        write_config(plan_dir, {**CONFIG, "command": "/nonexistent/slave --plan tplan:Plan"})
        error = note(start, "error", "/nonexistent/slave: no such file")
        assert "the running tree is kept" in error["message"]
        script = plan_dir / "slave.sh"
        script.write_text("#!/bin/sh\nexec python3 -m zeus_fsm.slave \"$@\"\n",
                          encoding="utf-8")
        script.chmod(0o644)
        write_config(plan_dir, {**CONFIG, "command": [str(script), "--plan", "tplan:Plan"]})
        note(start, "error", "slave.sh: not executable")
        write_config(plan_dir, CONFIG)  # the config it runs: nothing to apply
        touch(plan_dir / "root.txt")  # and it still restarts the root
        rows = start.settled(lambda rows: all_connected(rows) and rows["boot"]["runs"] == 2,
                             "the root booted again")
        assert rows["boot"]["pid"] != before["boot"]
        assert leftovers(set(before.values()), before["boot"]) == []
    finally:
        assert start.stop() == 0
    assert leftovers(start.pids, start.root_pid) == []


def test_a_command_that_stops_being_executable_defers_the_root_restart(
        plan_dir: Path) -> None:
    script = plan_dir / "slave.sh"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -m zeus_fsm.slave \"$@\"\n",
                      encoding="utf-8")
    script.chmod(0o755)
    write_config(plan_dir, {**CONFIG, "command": ["./slave.sh", "--plan", "tplan:Plan"]})
    start = Start(plan_dir / "zeus.json", "zeus")
    try:
        before = pid_map(start.settled(all_connected, "the whole tree connected"))
        script.chmod(0o644)
        touch(plan_dir / "root.txt")
        error = note(start, "error", "cannot restart the root: ./slave.sh: not executable")
        assert "the running tree is kept" in error["message"]
        assert leftovers({before["boot"]}, None) != []  # the old tree runs on
        script.chmod(0o755)  # the command is watched while the restart waits for it
        rows = start.settled(lambda rows: all_connected(rows) and rows["boot"]["runs"] == 2,
                             "the root restarted once the command could run")
        assert rows["boot"]["pid"] != before["boot"]
    finally:
        assert start.stop() == 0
    assert leftovers(start.pids, start.root_pid) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_during_a_root_restart_leaves_nothing_in_proc(
        plan_dir: Path, signum: signal.Signals) -> None:
    start = Start(plan_dir / "zeus.json", "spec")
    try:
        before = start.settled(all_connected, "the whole tree connected")
        touch(plan_dir / "root.txt")
        restart_of(start, ["boot"])
        start.process.send_signal(signum)  # while the old tree stops / the new one boots
        code = start.process.wait(timeout=WAIT)
    finally:
        if start.process.poll() is None:
            start.process.kill()
            start.process.wait(timeout=WAIT)
    while start.next_event(WAIT) is not None:
        pass
    assert code == 0
    assert start.seen[-1]["event"] == "exit"
    roots = {e["pid"] for e in start.seen if e["event"] == "node" and e["node"] == "boot"
             and e["pid"]}
    assert before["boot"]["pid"] in roots
    for root in roots:
        assert leftovers(start.pids, root) == []



# ---- the config ----------------------------------------------------------------------


def test_config_is_read_with_commands_and_the_python_word(plan_dir: Path) -> None:
    config = load(plan_dir / "zeus.json")
    assert config.command[0] == sys.executable
    assert config.directory == plan_dir.resolve()
    assert [child.identifier for child in config.root.children] == ["alpha", "beta"]
    assert config.root.commands == (("console", "c"),)


def test_commands_are_found_by_name_or_alias_first_match_first() -> None:
    config = parse(json.dumps({"command": "x", "plan": {"boot": {
        "web": {"serve": ["s"], "test": None}, "tools": {"s": [], "console": ["c"]}}}}),
        Path("/app"))
    found = {name: (node.identifier, canonical) for name in ("serve", "s", "test", "c")
             if (hit := config.find_command(name)) for node, canonical in [hit]}
    assert found == {"serve": ("web", "serve"), "s": ("web", "serve"),
                     "test": ("web", "test"), "c": ("tools", "console")}
    assert config.find_command("nosuch") is None


@pytest.mark.parametrize(("text", "message"), [
    ("[1]", "must be a JSON object"),
    ('{"plan": {"boot": {}}}', '"command" is missing'),
    ('{"command": "", "plan": {"boot": {}}}', "command: is empty"),
    ('{"command": "x \\"y", "plan": {"boot": {}}}', "cannot split"),
    ('{"command": "x"}', '"plan" must be an object'),
    ('{"command": "x", "plan": {"root": {}}}', 'exactly one root, "boot"'),
    ('{"command": "x", "plan": {"boot": {"a": {"a": {}}}}}', "plan.boot.a.a: 'a' appears twice"),
    ('{"command": "x", "plan": {"boot": {"a": 3}}}', "plan.boot.a: a slave must be an object"),
    ('{"command": "x", "plan": {"boot": {"t": [1]}}}', "aliases must be strings"),
    ('{"command": "x", "plan": {"boot": {"a\\nb": null}}}', "cannot be a command name"),
    ('{"command": "x", "plan": {"boot": {"a\\nb": {}}}}', "cannot be a slave identifier"),
    ('{"command": "x", "plan": {"boot": {}}, "extra": 1}', "unknown key(s) 'extra'"),
    ('{"command": "x",\n "plan": }', "zeus.json:2:10: invalid JSON"),
])
def test_config_errors_say_where_and_why(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text, Path("/app"), "zeus.json")
    assert message in str(caught.value)
    assert str(caught.value).startswith("zeus.json")


def test_a_bad_config_is_a_clear_cli_error(tmp_path: Path) -> None:
    (tmp_path / "zeus.json").write_text('{"command": "x"}', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "zeus_fsm", "start",
                             str(tmp_path / "zeus.json")], capture_output=True, text=True,
                            timeout=WAIT)
    assert result.returncode == 1
    assert '"plan" must be an object' in result.stderr


def test_a_command_that_cannot_run_exits_1_and_says_why(tmp_path: Path) -> None:
    config = {"command": "/nonexistent/slave", "plan": {"boot": {}}}
    (tmp_path / "zeus.json").write_text(json.dumps(config), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "zeus_fsm", "start",
                             str(tmp_path / "zeus.json"), "--json-status"],
                            capture_output=True, text=True, timeout=WAIT)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1
    assert any(e["event"] == "error" and "/nonexistent/slave" in e["message"] for e in events)
    assert events[-1]["event"] == "exit"


# ---- the views, without processes ---------------------------------------------------------


def test_views_show_a_crash_and_the_child_it_blocks() -> None:
    import io

    from zeus_fsm.start.config import NodeSpec
    from zeus_fsm.start.tree import Tree
    from zeus_fsm.start.view import JsonStatus, PlainLines

    tree = Tree(NodeSpec("boot", (NodeSpec("alpha", (NodeSpec("gamma"),)),)))
    json_out, plain_out = io.StringIO(), io.StringIO()
    views = (JsonStatus(json_out), PlainLines(plain_out))
    for name, triggers in (("boot", ("start", "register", "succeed")),
                           ("alpha", ("start", "register", "fail"))):
        node = tree.nodes[name]
        for trigger in triggers:
            tree.moved(node, trigger, 0)
            node.pid = 7 if name == "boot" else 8
            if trigger == "fail":
                node.error = "Traceback (most recent call last):\nValueError: bad\n"
            for view in views:
                view.node_changed(tree, node, trigger)
    lines = [json.loads(line) for line in json_out.getvalue().splitlines()]
    crashed = [e for e in lines if e["node"] == "alpha" and e["trigger"] == "fail"]
    assert crashed[0]["state"] == crashed[0]["status"] == "crashed"
    assert crashed[0]["error"] == "ValueError: bad"
    gamma = [e for e in lines if e["node"] == "gamma"]
    assert [e["status"] for e in gamma] == ["unbooted", "blocked"]  # blocked once alpha failed
    assert gamma[-1]["trigger"] is None  # no transition of its own
    tree.moved(tree.nodes["alpha"], "stop", 0)
    views[0].node_changed(tree, tree.nodes["alpha"], "stop")
    views[1].node_changed(tree, tree.nodes["alpha"], "stop")
    last = [json.loads(line) for line in json_out.getvalue().splitlines()][-1]
    assert (last["node"], last["status"], last["state"]) == ("alpha", "crashed", "stopped")
    assert plain_out.getvalue().splitlines()[-3:] == [
        "alpha: crashed pid 8, 0 files: ValueError: bad",
        "gamma: blocked (unbooted), 0 files: alpha: ValueError: bad",
        "alpha: crashed (stopped) pid 8, 0 files: ValueError: bad",
    ]


# ---- the watcher, without slaves -------------------------------------------------------------


def test_watcher_reports_only_watched_files_merged_until_taken(tmp_path: Path) -> None:
    from zeus_fsm.start.watch import FileWatcher

    news = threading.Event()
    watched, other = tmp_path / "watched.txt", tmp_path / "other.txt"
    watched.write_text("1", encoding="utf-8")
    watcher = FileWatcher(news.set, debounce_ms=100, step_ms=10)
    try:
        watcher.watch([os.fsencode(watched)])
        deadline = time.monotonic() + WAIT
        while not watcher.up_to_date and time.monotonic() < deadline:
            news.wait(0.05)
        assert watcher.up_to_date
        news.clear()
        other.write_text("x", encoding="utf-8")  # same directory, not reported by a slave
        assert not news.wait(0.3)
        assert watcher.take() == set()
        for round_ in range(3):
            watched.write_text(str(round_), encoding="utf-8")
        assert news.wait(WAIT)
        time.sleep(0.2)  # more batches, if any, merge into the same take
        assert watcher.take() == {os.fsencode(watched)}
        assert watcher.take() == set()
    finally:
        watcher.close()
    assert watcher.failure is None


def test_watchfiles_is_used_through_its_public_api_only() -> None:
    """A private module (watchfiles._rust_notify) can change in any release."""
    import ast

    package = Path(__file__).parents[1] / "zeus_fsm"
    private = []
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            private += [f"{source.name}: {name}" for name in names
                        if name.split(".")[0] == "watchfiles"
                        and any(part.startswith("_") for part in name.split(".")[1:])]
    assert private == []


def test_a_config_change_is_compared_by_where_each_slave_is() -> None:
    from zeus_fsm.start.config import compare
    from zeus_fsm.start.tree import Tree

    def config(plan: dict[str, Any], command: str = "x") -> Any:
        return parse(json.dumps({"command": command, "plan": {"boot": plan}}), Path("/app"))

    old = config({"a": {"g": {}}, "b": {}, "c": ["console"]})
    moved = compare(old, config({"a": {}, "b": {"g": {}}, "d": {}}))
    assert (moved.restarts_root, moved.removed, moved.added) == (False, ("g",), ("g", "d"))
    assert moved.kept == {"boot", "a", "b"} and "added g, d; removed g" in moved.describe()
    assert compare(old, config({"a": {"g": {}}, "b": {}})).empty  # commands are never run
    assert compare(old, config({"a": {"g": {}}, "b": {}}, "y")).restarts_root

    tree, new = Tree(old.root), Tree(config({"a": {}, "d": {}}).root)
    tree.moved(tree.nodes["a"], "start", 5)
    tree.nodes["a"].pid = 42
    new.carry_over(tree, {"boot", "a"})
    assert (new.nodes["a"].state, new.nodes["a"].pid, new.nodes["a"].runs) == ("spawning", 42, 1)
    assert new.nodes["d"].state == "unbooted"
