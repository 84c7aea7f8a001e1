"""`zeus-fsm trace` runs the real master against a slave and narrates every step."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from zeus_fsm.cli import main
from zeus_fsm.protocol.requirements import requirement
from zeus_fsm.views.build import find_dot

REPO = Path(__file__).resolve().parent.parent
MINIMAL_SLAVES = REPO / "tests" / "broken_slaves"
DOT = find_dot()
SVG_NS = "{http://www.w3.org/2000/svg}"
HIGHLIGHT = "#1f6feb"

#: Sends R:OK before P: breaks PID-1 on the root's first message.
RESULT_BEFORE_PID = f"""
import sys
sys.path.insert(0, {str(MINIMAL_SLAVES)!r})
from minimal_slave import Slave

class Broken(Slave):
    def register(self, identifier, parent_pid):
        self.send(b"R:OK")
        super().register(identifier, parent_pid)

Broken().main()
"""

#: Sends a P whose pid is not a number: a datagram that does not decode (FRAME-4).
BAD_PID_FIELD = RESULT_BEFORE_PID.replace(
    """    def register(self, identifier, parent_pid):
        self.send(b"R:OK")
        super().register(identifier, parent_pid)""",
    """    def pid_message(self, identifier, parent_pid):
        return b"P:notapid:" + identifier.encode()""")


def trace(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["trace", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    return result.exit_code, result.output


def first(lines: list[str], text: str) -> int:
    return next(i for i, line in enumerate(lines) if text in line)


def highlighted_edges(svg: Path) -> set[str]:
    """Titles ('a->b') of the SVG's edges drawn in the highlight colour."""
    found: set[str] = set()
    for group in ET.parse(svg).getroot().iter(f"{SVG_NS}g"):
        if group.get("class") != "edge":
            continue
        title = group.find(f"{SVG_NS}title")
        path = group.find(f"{SVG_NS}path")
        if title is not None and path is not None and path.get("stroke") == HIGHLIGHT:
            found.add((title.text or "").replace("&#45;", "-"))
    return found


@pytest.mark.parametrize("dialect", ["spec", "zeus"])
def test_trace_narrates_the_seed_steps_in_order(dialect: str, tmp_path: Path) -> None:
    mermaid, svg = tmp_path / "run.mmd", tmp_path / "run.svg"
    args = ["--dialect", dialect, "--mermaid", str(mermaid)]
    if DOT is not None:
        args += ["--svg", str(svg)]
    code, output = trace(*args)
    assert code == 0, output
    lines = output.splitlines()
    root = "boot" if dialect == "zeus" else "root"

    for name in (root, "child_ok", "child_lazy"):
        me = name + "["  # a child's pid is known from its P on
        order = [first(lines, f"Socket step for {me}"),
                 first(lines, f"Pid & Identifier step for {me}"),
                 first(lines, f"Action Result step for {me}"),
                 first(lines, f"Connected: {me}")]
        assert order == sorted(order), (name, order)
        # step 5 runs in parallel: any time after P
        assert first(lines, f"Loaded Files step for {me}") > order[1]
    # child_lazy loads a module after its R:OK: step 5 goes on after Connected
    lazy_files = [i for i, line in enumerate(lines) if "Loaded Files step for child_lazy[" in line]
    assert lazy_files and lazy_files[-1] > first(lines, "Connected: child_lazy[")
    assert first(lines, "Action Result step for child_fail[") < \
        first(lines, "Failure and shutdown step for child_fail[")
    assert not any("Connected: child_fail[" in line for line in lines)

    # the bytes on the wire, the requirement with its sentence, the elapsed time
    pid = re.search(rf"{root}\[(\d+)\]", output)
    assert pid
    p_message = f"P:{pid.group(1)}:0:boot\\0" if dialect == "zeus" else f"P:{pid.group(1)}:"
    assert f"[slave socket]  {p_message}" in output
    assert "S:child_fail" in output
    assert requirement("SOCKET-2").text in output
    assert requirement("RESULT-3").text in output
    assert re.search(r"^\s+\d+\.\d ms  ", output, re.MULTILINE)
    assert "VIOLATION" not in output

    text = mermaid.read_text(encoding="utf-8")
    assert text.startswith("---\ntitle:") and "sequenceDiagram" in text
    for name in ("child_ok", "child_fail", "child_lazy"):
        assert f"as {name} (pid " in text
    assert text.count("fork · SPAWN-2") == 3
    # the root's steps in the seed's order: Socket, P, R (then Connected), files after P
    steps = [text.index("SOCKET-2"), text.index(f"slave socket: {p_message}"),
             text.index("RESULT-2"), text.index("Note over S1: connected")]
    assert steps == sorted(steps)
    assert text.index("FILES-8") > steps[1]
    assert "RESULT-3" in text
    # the failed child's channel closing, with every requirement it satisfies
    closed = ("slave socket: end of file · CRASH-1" if dialect == "zeus"
              else "the channel closed · CRASH-1, FILES-6")
    assert closed in text
    assert ";" not in re.sub(r"#\w+;", "", text)

    if DOT is not None:
        edges = highlighted_edges(svg)
        entry = "pid->pipe" if dialect == "zeus" else "pid->start_up_result"
        assert {"socket->pid", entry, "up_result_action->up_result_connected",
                "up_result_action->up_result_crashed",
                "up_result_crashed->up_result_closed"} <= edges
        assert not any(edge.endswith("->broken") for edge in edges)


def test_a_violation_stops_the_narration_with_its_diagnostic(tmp_path: Path) -> None:
    slave = tmp_path / "result_before_pid.py"
    slave.write_text(RESULT_BEFORE_PID, encoding="utf-8")
    svg, mermaid = tmp_path / "run.svg", tmp_path / "run.mmd"
    args = ["--dialect", "spec", "--timeout", "2", "--mermaid", str(mermaid)]
    if DOT is not None:
        args += ["--svg", str(svg)]
    code, output = trace(*args, "--", sys.executable, str(slave))
    assert code == 1, output
    lines = output.splitlines()
    at = first(lines, "VIOLATION by the slave")
    assert lines[at - 1].endswith("[slave socket]  R:OK")  # the step that broke the rule
    assert "PID-1" in lines[at] and requirement("PID-1").text in lines[at]
    assert lines[at + 1].strip().startswith("Expected: pid (P:")
    assert lines[at + 2].strip().startswith("Actual:") and "R:OK" in lines[at + 2]
    assert "narration stops here" in lines[at + 3]
    assert all(line.startswith("wrote ") for line in lines[at + 4:])
    assert first(lines, "Socket step for root") < at
    # the run's sequence stops at the same step: R:OK, then the violation, nothing after
    arrows = mermaid.read_text(encoding="utf-8").splitlines()
    assert arrows[-2].endswith("->>M: slave socket: R:OK")
    assert arrows[-1].startswith("    Note over S1: violation: slave broke PID-1")
    if DOT is not None:
        root = ET.parse(svg).getroot()
        bold = [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "edge"
                and (g.findtext(f"{SVG_NS}title") or "").replace("&#45;", "-") == "pid->broken"]
        assert bold and bold[0].find(f"{SVG_NS}path").get("stroke-width") == "2.6"  # type: ignore[union-attr]


def test_a_command_that_cannot_start_is_a_setup_error(tmp_path: Path) -> None:
    code, output = trace("--", str(tmp_path / "no-such-slave"))
    assert code == 2
    assert "cannot start" in output


def test_trace_tells_a_custom_slave_its_dialect_and_spawns_what_it_is_asked() -> None:
    # The minimal slave imports nothing from zeus_fsm; it reads ZEUS_FSM_DIALECT.
    code, output = trace("--dialect", "zeus", "--spawn", "child_ok", "--",
                         sys.executable, str(MINIMAL_SLAVES / "minimal_slave.py"))
    assert code == 0, output
    assert re.search(r"\[slave socket\]  P:\d+:0:boot\\0", output)
    assert "Connected: boot[" in output and "Connected: child_ok[" in output
    assert "child_fail" not in output  # only what --spawn asked for


def test_a_datagram_that_does_not_decode_is_shown_before_its_diagnostic(tmp_path: Path) -> None:
    slave = tmp_path / "bad_pid_field.py"
    slave.write_text(BAD_PID_FIELD, encoding="utf-8")
    assert "notapid" in BAD_PID_FIELD
    code, output = trace("--dialect", "spec", "--timeout", "2", "--",
                         sys.executable, str(slave))
    assert code == 1, output
    lines = output.splitlines()
    at = first(lines, "VIOLATION by the slave")
    assert lines[at - 1].endswith("[slave socket]  P:notapid:")
    assert "FRAME-4" in lines[at]
    assert "P:notapid:" in lines[at + 2]
    assert not any("Pid & Identifier step" in line for line in lines)


def test_a_zeus_trace_narrates_a_command_run_with_its_requirements() -> None:
    code, out = trace("--dialect", "zeus", "--run", "hello a b")
    assert code == 0, out[-3000:]
    order = ["command 'hello' #1 on boot[",  # C is sent
             "[slave socket]  \\0 + fd: AF_UNIX SOCK_DGRAM socket",  # the runner's socket
             "satisfies CMD-3", "[runner socket]  ", "satisfies CMD-5",
             "the command's output: hello a b\\n; exit status 2"]
    positions = [out.find(text) for text in order]
    assert -1 not in positions, (order, out[-3000:])
    assert positions == sorted(positions), out[-3000:]
    assert "VIOLATION" not in out
