"""`zeus-fsm trace --html`: one self-contained page that walks a real run step by step.

The page holds everything inline (CSS, JS, SVG, the steps as JSON): it opens
from disk with no network. Its parts come from the same sources as the rest
of zeus_fsm: the steps from the master's observer events (steps.py), each
message's fields from the codec (views/wire.py), the state diagram from the
tables (views/state.py, with an id per state and edge that the page's script
highlights), the explanations from explain.py. The template, style and
script are package data in page_assets/.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from importlib import resources
from string import Template
from typing import Any, Final

from zeus_fsm.master.observe import ObservedEvent
from zeus_fsm.protocol.command import COMMAND_STATES
from zeus_fsm.protocol.dialects import Dialect
from zeus_fsm.protocol.escapes import escape_bytes
from zeus_fsm.protocol.machine import states_for
from zeus_fsm.protocol.messages import LoadedFiles
from zeus_fsm.protocol.requirements import SECTIONS, requirement
from zeus_fsm.trace.explain import explain
from zeus_fsm.trace.lanes import lanes_svg, short_label
from zeus_fsm.trace.narrator import show_state
from zeus_fsm.trace.normalize import normalized
from zeus_fsm.trace.steps import (
    COMMAND,
    MASTER,
    Lane,
    Step,
    Story,
    story_of,
)
from zeus_fsm.views import command_machine
from zeus_fsm.views.build import render_svg
from zeus_fsm.views.command_machine import command_state_id
from zeus_fsm.views.state import short_name, state_element_id, to_dot
from zeus_fsm.views.wire import Frame

#: Folding: a read of many paths shows this many, then says how many more.
SHOWN_PATHS: Final = 8
#: A field longer than this is cut (an error text can be 64 KiB).
SHOWN_FIELD: Final = 700
_SVG_START: Final = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_SVG_SIZE: Final = re.compile(r'<svg width="[^"]*" height="[^"]*"')

_COMMAND_DOCS: Final = {state.name: state.doc for state in COMMAND_STATES}
_SUMMARY: Final = {
    "start": "the master starts the root slave",
    "socket": "{who} sends its own socket",
    "pid": "{who} says who it is (P)",
    "pipe": "{who} sends its loaded-files pipe",
    "ok": "{who} reports R:OK and is connected",
    "fail": "{who}'s action failed (R with an error)",
    "files": "{who} reports loaded files",
    "spawn": "the master asks {who} to fork a child (S)",
    "command": "the master asks {who} for a command (C)",
    "hangup": "{who}'s channel closes",
    "pipeclose": "{who}'s loaded-files pipe closes",
    "timeout": "nothing came from {who} in time",
    "signal": "the master stops {who}",
    "malformed": "bytes from {who} that do not decode",
    "runner": "{who}'s runner answers C with its socket",
    "run-header": "the master sends {who} the header",
    "run-fds": "the master sends {who} the client's three fds",
    "run-pid": "the command {who} says who it is (P)",
    "run-ended": "the command {who} ends",
    "run-exit": "{who} sends the exit status",
    "run-hangup": "{who}'s socket closes",
    "run-timeout": "nothing came from {who} in time",
}


def _asset(name: str) -> str:
    return resources.files("zeus_fsm.trace").joinpath("page_assets", name) \
        .read_text(encoding="utf-8")


def diagram_svg(dialect: str, dot: str) -> str:
    """The handshake's state diagram, inline: no XML prolog, sized by the page."""
    return _inline(render_svg(to_dot(dialect), dot))


def command_diagram_svg(dot: str) -> str:
    """The command machine's diagram (zeus), shown for the steps on a runner socket."""
    svg = _inline(render_svg(command_machine.to_dot(), dot))
    return f'<div class="machine" id="machine-command" hidden>\n{svg}\n</div>'


def _inline(svg: bytes) -> str:
    return _SVG_SIZE.sub("<svg", _SVG_START.sub("", svg.decode("utf-8")), count=1).strip()


def _field(data: bytes, name: str, role: str) -> list[str]:
    # a newline stays visible as \n and also breaks the line, so a traceback reads as one
    text = "\\n\n".join(escape_bytes(line) for line in data.split(b"\n"))
    if len(text) > SHOWN_FIELD:
        text = f"{text[:SHOWN_FIELD]}\N{HORIZONTAL ELLIPSIS} ({len(data)} bytes)"
    return [text, f"{name} (empty)" if not data else name, role]


def _frames(step: Step) -> tuple[list[list[list[str]]], str]:
    """The step's frames as [bytes, name, role] triples, long batches folded."""
    frames: Sequence[Frame] = step.frames
    folded = ""
    if isinstance(step.event, LoadedFiles) and len(step.event.paths) > SHOWN_PATHS:
        more = len(step.event.paths) - SHOWN_PATHS
        if len(frames) == 1:  # zeus: one read of lines
            frames = [frames[0][:2 * SHOWN_PATHS]]
            folded = f"\N{HORIZONTAL ELLIPSIS} and {more} more paths in this read"
        else:  # spec: one datagram per path
            frames = frames[:SHOWN_PATHS]
            folded = f"\N{HORIZONTAL ELLIPSIS} and {more} more F datagrams"
    return [[_field(f.data, f.name, f.role) for f in frame] for frame in frames], folded


def _nobytes(step: Step, dialect: Dialect) -> str:
    if step.kind == "start":
        return "no message: the master forks and execs the slave, with ZEUS_MASTER_FD set"
    if step.kind == "hangup":
        return ("no bytes: end of file on the slave socket" if dialect.files_on_pipe else
                "no bytes: the slave's process exited (seen through its pidfd)")
    if step.kind == "pipeclose":
        return "no bytes: end of file on the pipe"
    if step.kind == "timeout":
        return "nothing arrived"
    return ""


def _route(step: Step, lanes: dict[str, Lane]) -> str:
    sender, receiver = lanes[step.sender].label, lanes[step.receiver].label
    if step.kind == "start":
        route = f"master \N{RIGHTWARDS ARROW} {receiver}: starts `{step.detail}`"
    elif step.kind == "signal":
        route = f"master \N{RIGHTWARDS ARROW} {receiver}: {step.detail or 'a signal'}"
    else:
        route = f"{sender} \N{RIGHTWARDS ARROW} {receiver}, on the {step.channel}"
    if step.at_ms is not None:
        route += f"  \N{MIDDLE DOT}  {step.at_ms:.1f} ms into the run"
    return route


def _rules(step: Step) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for rule_id in dict.fromkeys(step.requirements):
        rule = requirement(rule_id)
        rules.append({"id": rule.id, "level": rule.level, "text": rule.text, "broken": False})
    if step.violation:
        rule = requirement(step.violation_requirement)
        rules.append({"id": rule.id, "level": rule.level,
                      "text": f"{rule.text} ({step.violation})", "broken": True})
    return rules


def _title(step: Step, who: str) -> str:
    rule = step.violation_requirement or next(iter(step.requirements), "")
    section = SECTIONS[requirement(rule).section] if rule else "Failure and shutdown"
    if step.violation:
        return f"REFUSED: {section}: {who} sent {short_label(step)} out of turn"
    return f"{section}: {_SUMMARY.get(step.kind, step.kind).format(who=who)}"


def _change(step: Step, who: str, docs: dict[str, str]) -> str:
    if step.lane == MASTER:
        return ""
    if step.machine == COMMAND:
        before, after = step.before[0], step.after[0]
        meaning = _COMMAND_DOCS.get(after, "")
        if after == before:
            return f"the command machine stays in {after} ({meaning})"
        return f"the command machine: {before} \N{RIGHTWARDS ARROW} {after} ({meaning})"
    before, after = ", ".join(step.before), ", ".join(step.after)
    meaning = "; ".join(f"{short_name(leaf)}: {docs[leaf]}" for leaf in step.after
                        if leaf in docs)
    if before == after:
        return f"{who}'s handshake stays in {show_state(after)} ({meaning})"
    return (f"{who}'s handshake: {show_state(before)} \N{RIGHTWARDS ARROW} "
            f"{show_state(after)} ({meaning})")


def step_data(story: Story, dialect: Dialect) -> list[dict[str, Any]]:
    lanes = {lane.key: lane for lane in story.lanes}
    docs = {state.name: state.doc for state in states_for(dialect.name)}
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for step in story.steps:
        who = lanes[step.lane].label
        frames, folded = _frames(step)
        states = [state_element_id(leaf) for leaf in step.after]
        if step.machine == COMMAND:
            states = [command_state_id(leaf) for leaf in step.after]
        elif any(leaf.startswith("up_") for leaf in step.after):
            states.append(state_element_id("up"))  # the parallel state around both regions
        out.append({
            "number": step.number, "lane": step.lane, "who": who, "kind": step.kind,
            "title": _title(step, who), "route": _route(step, lanes),
            "frames": frames, "folded": folded, "nobytes": _nobytes(step, dialect),
            "fds": step.fds, "rules": _rules(step), "change": _change(step, who, docs),
            "lifecycle": ("the master's view of this process: " + "; ".join(step.lifecycle))
            if step.lifecycle else "",
            "commands": "; ".join(step.commands), "diagram": step.machine,
            "explain": explain(step, lanes, dialect.name, step.kind not in seen),
            "states": states, "edges": list(dict.fromkeys(step.edges)),
            "rejected": step.rejected,
        })
        seen.add(step.kind)
    return out


def _json_for_script(value: object) -> str:
    """JSON that cannot end the <script> element it sits in."""
    return json.dumps(value, ensure_ascii=True, indent=None, separators=(",", ":")) \
        .replace("</", "<\\/")


def render_page(events: Sequence[ObservedEvent], dialect: Dialect, dot: str, *,
                deterministic: bool = False) -> str:
    """The whole page for one run, as text."""
    if deterministic:
        events = normalized(events, dialect)
    story = story_of(events, dialect, times=not deterministic)
    if not story.steps:
        raise ValueError("the run has no steps to show")
    steps = step_data(story, dialect)
    kind = ("deterministic example: pids, times and paths normalized" if deterministic
            else "a live run")
    subtitle = (f"{dialect.name} dialect \N{MIDDLE DOT} {len(steps)} steps of a real run of "
                f"the master, {kind} \N{MIDDLE DOT} the diagram and every transition come "
                "from zeus_fsm/protocol/machine.py's tables")
    lanes = lanes_svg(story)
    values = {
        "title": "The Illustrated Zeus Handshake",
        "subtitle": html.escape(subtitle),
        "count": str(len(steps)),
        "css": _asset("page.css").rstrip(),
        "js": _asset("page.js").rstrip(),
        "svg": diagram_svg(dialect.name, dot),
        "command_svg": command_diagram_svg(dot)
        if any(step.machine == COMMAND for step in story.steps) else "",
        "lanes_head": lanes[0].rstrip(),
        "lanes": lanes[1].rstrip(),
        "data": _json_for_script({"dialect": dialect.name, "steps": steps}),
    }
    return Template(_asset("page.html")).substitute(values)
