"""The illustrated page: its parts come from the codec, the tables and a real run."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from zeus_fsm.cli import main
from zeus_fsm.protocol import machine
from zeus_fsm.protocol.dialects import DIALECT_NAMES, Dialect, get_dialect
from zeus_fsm.protocol.messages import ActionResult, LoadedFiles, PidIdentifier, SpawnSlave
from zeus_fsm.views.build import find_dot, render_svg
from zeus_fsm.views.state import edge_element_id, every_state, state_element_id, to_dot
from zeus_fsm.views.wire import frames

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = {name: REPO / "docs" / f"illustrated-{name}.html" for name in DIALECT_NAMES}
DOT = find_dot()
needs_dot = pytest.mark.skipif(DOT is None, reason="Graphviz `dot` is not installed here "
                                                   "(CI installs it: apt-get install graphviz)")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_trace import RESULT_BEFORE_PID  # noqa: E402


def steps_of(page: str) -> list[dict[str, Any]]:
    """The steps a page embeds (what its script shows, one by one)."""
    found = re.search(r'<script type="application/json" id="steps-data">(.*?)</script>', page,
                      re.DOTALL)
    assert found, "no step data in the page"
    steps: list[dict[str, Any]] = json.loads(found.group(1))["steps"]
    return steps


def trace(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["trace", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    return result.exit_code, result.output


# ---- the parts ----------------------------------------------------------------


def test_the_fields_of_p_are_named_and_add_up_to_the_codecs_bytes(dialect: Dialect) -> None:
    parent = 4605 if dialect.has_parent_pid else None
    [frame] = frames(dialect, PidIdentifier(4628, "child_ok", parent))
    names = [field.name for field in frame]
    assert b"".join(field.data for field in frame) == \
        dialect.encode(PidIdentifier(4628, "child_ok", parent))
    if dialect.name == "zeus":
        assert names == ["P: Pid & Identifier", "sep", "pid", "sep", "parent pid", "sep",
                         "identifier", "NUL end"]
    else:
        assert names == ["P: Pid & Identifier", "sep", "pid", "sep", "identifier"]


def test_loaded_files_are_one_datagram_each_in_spec_and_lines_of_one_write_in_zeus(
        dialect: Dialect) -> None:
    batch = LoadedFiles((b"/app/a.rb", b"/app/b.rb"))
    got = frames(dialect, batch)
    assert len(got) == (1 if dialect.files_on_pipe else 2)
    assert sum(field.name == "path" for frame in got for field in frame) == 2
    for message in (ActionResult(), ActionResult("boom\n"), SpawnSlave("x")):
        [frame] = frames(dialect, message)
        assert b"".join(f.data for f in frame) == dialect.encode(message)


@needs_dot
@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_the_diagram_names_every_state_and_transition_by_its_table_row(name: str) -> None:
    assert DOT is not None
    svg = render_svg(to_dot(name), DOT).decode("utf-8").replace("&#45;", "-")
    ids = set(re.findall(r'<g id="([^"]+)"', svg))
    assert {state_element_id(state) for state in every_state(name)} <= ids
    assert {edge_element_id(row) for row in machine.transitions_for(name)} <= ids
    assert "reject-socket" in ids and "reject-up-note" in ids


# ---- the committed examples ----------------------------------------------------


@needs_dot
@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_the_committed_example_is_what_a_fresh_deterministic_run_gives(name: str) -> None:
    code, output = trace("--dialect", name, "--html", str(EXAMPLES[name]), "--deterministic",
                         "--check")
    assert code == 0, output
    assert "is up to date" in output


@needs_dot
@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_the_example_walks_the_demo_run_in_the_seeds_order(name: str) -> None:
    steps = steps_of(EXAMPLES[name].read_text(encoding="utf-8"))
    assert [s["number"] for s in steps] == list(range(1, len(steps) + 1))
    kinds = [s["kind"] for s in steps]
    assert kinds[0] == "start" and kinds[-1] == "signal"
    assert kinds.count("spawn") == 3 and kinds.count("fail") == 1 and kinds.count("ok") == 3
    root = "boot" if name == "zeus" else "root"
    assert steps[0]["who"] == f"{root} (pid 4605)"
    # every slave: socket, P (and zeus's pipe) before its result; files after P
    for who in (f"{root} (pid 4605)", "child_ok (pid 4628)", "child_fail (pid 4631)",
                "child_lazy (pid 4634)"):
        own = [s["kind"] for s in steps if s["who"] == who]
        expected = (["start"] if who.startswith(root) else []) + ["socket", "pid"] + \
            (["pipe"] if name == "zeus" else [])
        assert own[:len(expected)] == expected, own
        result = next(i for i, kind in enumerate(own) if kind in ("ok", "fail"))
        assert result == len(expected) or own[len(expected):result] == ["files"], own
    # child_lazy's file comes after its R:OK, in state connected
    lazy = [s for s in steps if s["who"] == "child_lazy (pid 4634)" and s["kind"] == "files"]
    assert lazy and "state-up_result_connected" in lazy[-1]["states"]
    # the failure: R with the error text, then the channel closes (CRASH-1)
    fail = next(s for s in steps if s["kind"] == "fail")
    assert "state-up_result_crashed" in fail["states"]
    assert any("child_fail fails on purpose" in field[0] for frame in fail["frames"]
               for field in frame)
    assert steps[steps.index(fail) + (2 if name == "zeus" else 1)]["kind"] == "hangup"
    # normalized: no real paths, no timings
    page = EXAMPLES[name].read_text(encoding="utf-8")
    assert str(REPO) not in page and "ms into the run" not in page
    assert "/app/zeus_fsm/examples/demo.py" in page


@needs_dot
def test_a_changed_transition_makes_the_committed_page_stale(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Someone cites another requirement for R:OK and forgets to regenerate the page.
    rows = tuple(attrs.evolve(row, requirement="RESULT-4") if row.trigger == "ok" else row
                 for row in machine.TRANSITIONS)
    monkeypatch.setattr(machine, "TRANSITIONS", rows)
    monkeypatch.setattr(machine, "_COMPILED", {})  # the machine is built from the tables again
    code, output = trace("--dialect", "zeus", "--html", str(EXAMPLES["zeus"]),
                         "--deterministic", "--check")
    assert code == 1
    assert f"stale or missing: {EXAMPLES['zeus']}" in output
    # the next generation shows the change: in the diagram and on the R:OK steps
    fresh = tmp_path / "fresh.html"
    code, output = trace("--dialect", "zeus", "--html", str(fresh), "--deterministic")
    assert code == 0, output
    oks = [s for s in steps_of(fresh.read_text(encoding="utf-8")) if s["kind"] == "ok"]
    assert oks and all([r["id"] for r in s["rules"]] == ["RESULT-4"] for s in oks)
    assert "RESULT&#45;4" in fresh.read_text(encoding="utf-8")  # the diagram's edge label


# ---- a live run --------------------------------------------------------------


@needs_dot
def test_a_refusal_is_the_last_step_drawn_on_the_broken_edge(tmp_path: Path) -> None:
    slave = tmp_path / "result_before_pid.py"
    slave.write_text(RESULT_BEFORE_PID, encoding="utf-8")
    page = tmp_path / "refused.html"
    code, output = trace("--dialect", "spec", "--timeout", "2", "--html", str(page), "--",
                         sys.executable, str(slave))
    assert code == 1, output
    steps = steps_of(page.read_text(encoding="utf-8"))
    last = steps[-1]
    assert last["kind"] == "ok" and last["title"].startswith("REFUSED: ")
    assert last["rejected"] == ["reject-pid"] and last["states"] == ["state-broken"]
    assert [r["id"] for r in last["rules"] if r["broken"]] == ["PID-1"]
    assert "ms into the run" in steps[1]["route"]  # a live page keeps its timings


def test_html_options_need_html() -> None:
    code, output = trace("--deterministic")
    assert code == 2 and "--html" in output


def test_the_page_needs_no_network_and_cannot_be_closed_by_its_data() -> None:
    page = EXAMPLES["spec"].read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    data = page.split('id="steps-data">', 1)[1].split("</script>", 1)[0]
    assert "</" not in data


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_every_state_and_edge_a_step_names_exists_in_its_diagram(name: str) -> None:
    page = EXAMPLES[name].read_text(encoding="utf-8").replace("&#45;", "-")
    ids = set(re.findall(r'id="([^"]+)"', page))
    for step in steps_of(page):
        assert set(step["states"]) | set(step["edges"]) | set(step["rejected"]) <= ids, step
    assert get_dialect(name).name == name


# ---- deterministic mode ---------------------------------------------------------


def test_deterministic_mode_normalizes_a_run_and_replays_it_on_the_tables() -> None:
    from zeus_fsm.master.observe import HandshakeFed, HandshakeMoved, ObservedEvent, SessionRef
    from zeus_fsm.protocol.events import (
        ChannelClosed,
        Event,
        FdKind,
        PipeClosed,
        PipePassed,
        SocketPassed,
    )
    from zeus_fsm.trace.normalize import normalized

    zeus = get_dialect("zeus")
    ref = SessionRef(1, "boot", 31337, 0)
    fed: list[Event] = [SocketPassed((FdKind.UNIX_STREAM,), peer_pid=31337, peer_uid=0),
           PidIdentifier(31337, "boot", 0), PipePassed((FdKind.FIFO,)),
           ActionResult('  File "/srv/app/x.py", line 1\n    ^^^^\nboom\n'),
           # read after R, on the other channel; one path outside the project
           LoadedFiles((b"/srv/app/x.py", b"/usr/lib/python3/json.py")),
           ChannelClosed(), PipeClosed()]
    events: list[ObservedEvent] = [HandshakeFed(float(i), ref, e) for i, e in enumerate(fed)]
    out = normalized(events, zeus, root=b"/srv")
    shown = [e.event for e in out if isinstance(e, HandshakeFed)]
    assert [type(e).__name__ for e in shown] == [
        "SocketPassed", "PidIdentifier", "PipePassed", "LoadedFiles", "ActionResult",
        "PipeClosed", "ChannelClosed"]
    assert shown[1] == PidIdentifier(4605, "boot", 0)
    assert shown[3] == LoadedFiles((b"/app/app/x.py",))
    assert shown[4] == ActionResult('  File "/app/app/x.py", line 1\nboom\n')
    moves = [(e.before, e.after) for e in out if isinstance(e, HandshakeMoved)]
    assert moves[3] == ("up_result_action, up_files_open",) * 2  # files before R now
    assert moves[-1][1] == "up_result_closed, up_files_done"
    assert all(e.at == 0.0 for e in out)


@needs_dot
def test_a_live_page_keeps_real_pids_paths_and_times_and_folds_long_batches(
        tmp_path: Path) -> None:
    page = tmp_path / "live.html"
    code, output = trace("--dialect", "zeus", "--html", str(page))
    assert code == 0, output
    assert f"wrote {page}" in output and "Connected: child_ok[" in output  # narrated too
    text = page.read_text(encoding="utf-8")
    steps = steps_of(text)
    assert "4605" not in steps[0]["who"] and all("ms into the run" in s["route"]
                                                  for s in steps)
    assert str(REPO / "zeus_fsm" / "examples" / "demo.py") in text
    assert [s["kind"] for s in steps].count("spawn") == 3


def test_a_batch_of_many_paths_is_folded() -> None:
    from zeus_fsm.trace.page import SHOWN_PATHS, step_data
    from zeus_fsm.trace.steps import MASTER, Lane, Step, Story

    paths = tuple(b"/app/m%d.py" % i for i in range(SHOWN_PATHS + 5))
    for dialect in (get_dialect("spec"), get_dialect("zeus")):
        batch = LoadedFiles(paths)
        step = Step(1, "s1", "s1", MASTER, "slave socket", "files",
                    frames=frames(dialect, batch), before=("up_result_connected",),
                    after=("up_result_connected",), requirements=["FILES-8"], event=batch)
        story = Story(dialect.name, (Lane(MASTER, "master"), Lane("s1", "root (pid 1)")),
                      (step,))
        [data] = step_data(story, dialect)
        shown = [f for frame in data["frames"] for f in frame if f[1] == "path"]
        assert len(shown) == SHOWN_PATHS
        assert data["folded"].endswith(("and 5 more paths in this read",
                                        "and 5 more F datagrams"))
        assert "after R" in data["explain"]


# ---- a command (zeus) ---------------------------------------------------------------


def test_the_zeus_example_runs_a_command_on_lanes_of_its_runner_and_command() -> None:
    steps = steps_of(EXAMPLES["zeus"].read_text(encoding="utf-8"))
    kinds = [s["kind"] for s in steps]
    start = kinds.index("command")
    assert kinds[start:start + 6] == ["command", "runner", "run-header", "run-fds",
                                      "run-pid", "run-exit"]
    asked, runner, header, fds, pid, status = steps[start:start + 6]
    # C and the runner's socket move the slave's handshake, and the command's machine
    assert asked["diagram"] == runner["diagram"] == "handshake"
    assert "idle \N{RIGHTWARDS ARROW} asked" in asked["commands"]
    assert "asked \N{RIGHTWARDS ARROW} attached" in runner["commands"]
    assert runner["route"].startswith("runner \N{RIGHTWARDS ARROW} master, on the slave socket")
    # the rest is on the runner socket, on the command machine's own diagram
    for step, state in ((header, "headed"), (fds, "starting"), (pid, "running"),
                        (status, "exited")):
        assert step["diagram"] == "command" and step["states"] == [f"cmd-state-{state}"]
        assert "on the runner socket" in step["route"] and step["explain"]
    assert [f[:2] for frame in header["frames"] for f in frame] == [
        ["4637", "client pid"], [":", "sep"], ["2", "argc"], ["\\0", "NUL end"]]
    assert [fd.split(":")[0] for fd in fds["fds"]] == ["arguments", "stdout (and stdin)",
                                                       "stderr"]
    assert [f[:2] for frame in pid["frames"] for f in frame if f[2] == "value"] == [
        ["4640", "command pid"], ["4605", "slave pid"], ["", "identifier (empty)"]]
    assert pid["who"] == "hello (pid 4640)" and status["who"] == "runner"
    assert [f[0] for frame in status["frames"] for f in frame] == ["2", "\\0"]
    # the runner is forked by the slave (the C row draws the fork), the command by the runner
    assert (header["lane"], fds["lane"], status["lane"], pid["lane"]) == ("s1r1",) * 3 + ("s1r1c",)
    page = EXAMPLES["zeus"].read_text(encoding="utf-8")
    row = re.search(rf'<g class="row kind-command" id="row-{asked["number"]}".*?</g>', page,
                    re.DOTALL)
    assert row and 'class="fork"' in row.group(0)
    assert 'id="machine-command"' in page
    assert 'id="machine-command"' not in EXAMPLES["spec"].read_text(encoding="utf-8")


def _command_run(order: tuple[str, ...]) -> list[Any]:
    """A command's moves as the master reports them, its end and status in `order`."""
    from zeus_fsm.master.observe import (
        Channel,
        CommandMoved,
        Direction,
        ObservedEvent,
        SessionRef,
        WireEvent,
    )
    from zeus_fsm.protocol.command import COMMAND_TRANSITIONS

    ref = SessionRef(1, "boot", 31337, 0)
    rows = {(row.source, row.trigger): row for row in COMMAND_TRANSITIONS}
    state, out = "idle", list[ObservedEvent]()
    triggers = ("command", "runner", "header", "fds", "pid", *order)
    for trigger in triggers:
        row = rows[(state, trigger)]
        after = state if row.dest == "=" else row.dest
        if trigger == "pid":
            out.append(WireEvent(0.0, ref, Direction.RECEIVED, Channel.RUNNER,
                                 b"P:40000:31337:\0"))
        out.append(CommandMoved(0.0, ref, 1, "hello", state, trigger, after, row))
        state = after
    return out


def test_deterministic_mode_shows_a_commands_status_whichever_came_first() -> None:
    from zeus_fsm.master.observe import CommandMoved, WireEvent
    from zeus_fsm.trace.normalize import normalized

    zeus = get_dialect("zeus")
    seen = []
    for order in (("ended", "exit"), ("exit", "ended"), ("exit", "hangup")):
        out = normalized(_command_run(order), zeus, root=b"/srv")
        seen.append([(e.trigger, e.before, e.after, e.spec.source) for e in out
                     if isinstance(e, CommandMoved)])
        wire = [e.data for e in out if isinstance(e, WireEvent)]
        assert wire == [b"P:4628:4605:\0"]  # the command's pid, and the slave's, normalized
    assert seen[0] == seen[1] == seen[2]
    assert seen[0][-2:] == [("pid", "starting", "running", "starting"),
                            ("exit", "running", "exited", "running")]


def test_deterministic_mode_puts_a_commands_files_in_one_sorted_batch_after_it() -> None:
    from zeus_fsm.master.observe import CommandMoved, HandshakeFed, SessionRef
    from zeus_fsm.protocol.messages import SpawnCommand
    from zeus_fsm.trace.normalize import normalized

    ref = SessionRef(1, "boot", 31337, 0)
    run = _command_run(("exit",))
    files = [HandshakeFed(0.0, ref, LoadedFiles((b"/srv/z.py",))),
             HandshakeFed(0.0, ref, LoadedFiles((b"/srv/a.py", b"/usr/lib/x.py")))]
    events = [HandshakeFed(0.0, ref, SpawnCommand("hello")), run[0], files[0], *run[1:5],
              files[1], *run[5:]]
    out = normalized(events, get_dialect("zeus"), root=b"/srv")
    kinds = [type(e.event).__name__ if isinstance(e, HandshakeFed) else e.trigger
             for e in out if isinstance(e, HandshakeFed | CommandMoved)]
    assert kinds == ["SpawnCommand", "command", "runner", "header", "fds", "pid", "exit",
                     "LoadedFiles"]
    batch = [e.event for e in out if isinstance(e, HandshakeFed)][-1]
    assert batch == LoadedFiles((b"/app/a.py", b"/app/z.py"))
