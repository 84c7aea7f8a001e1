"""One command's exchange (zeus), drawn from command.py's tables.

Same rules as state.py and lifecycle.py: every state, transition and
rejection comes from `COMMAND_STATES`, `COMMAND_TRANSITIONS` and
`COMMAND_REJECTIONS`, in table order. The happy path is one column; the
rejections are one note (most rows cover "any other state"), plus one dashed
edge to `broken` from each state with a deadline, labelled with what breaks
there, so the picture shows where the master stops waiting.
"""

from __future__ import annotations

from zeus_fsm.protocol import command
from zeus_fsm.protocol.tables import RejectionSpec
from zeus_fsm.views.state import (
    FAILED_COLOUR,
    dot_id,
    flat_dot_head,
    flat_state_label,
    html_text,
    mermaid_edges,
    mermaid_text,
)

_FAILED = FAILED_COLOUR
_BROKEN = "broken"


def command_state_id(state: str) -> str:
    """A state's node in the SVG (the illustrated page highlights it)."""
    return f"cmd-state-{state}"


def command_edge_id(source: str, trigger: str, dest: str) -> str:
    """A transition's edge in the SVG; a state's internal transitions share its loop."""
    return f"cmd-loop-{source}" if dest == "=" else f"cmd-edge-{source}-{trigger}-{dest}"


def _waits() -> dict[str, list[RejectionSpec]]:
    """The rows that name a state of their own (timeouts and hang-ups), per state."""
    out: dict[str, list[RejectionSpec]] = {}
    for row in command.COMMAND_REJECTIONS:
        if row.source not in ("*", _BROKEN):
            out.setdefault(row.source, []).append(row)
    return out


def _note_lines() -> list[str]:
    lines: list[str] = []
    for row in command.COMMAND_REJECTIONS:
        if row.source not in ("*", _BROKEN):
            continue  # drawn as edges
        trigger = "anything" if row.trigger == "*" else row.trigger
        where = "anywhere else" if row.source == "*" else f"in {row.source}"
        lines.append(f"{trigger} {where} \N{RIGHTWARDS ARROW} {row.requirement}: {row.reason}")
    return lines


def to_dot() -> str:
    """The command machine as Graphviz DOT text (top to bottom, the happy path in one column)."""
    states = command.COMMAND_STATES
    out = flat_dot_head(
        "command", 0.45, '<b>One command after C (zeus dialect)</b><br/><font point-size="10">'
        'generated from zeus_fsm/protocol/command.py. Edge: trigger and the requirement it '
        'serves.<br/>Dashed: where a wait or the runner ends, and the requirement that '
        'breaks.</font>')
    for state in states:
        label = flat_state_label(state)
        extra = ", peripheries=2" if state.terminal else ""
        if state.name == _BROKEN:
            extra += f', fillcolor="#fdecea", color="{_FAILED}"'
        out.append(f"  {dot_id(state.name)} [label={label}{extra}, "
                   f"id={dot_id(command_state_id(state.name))}];")
    out.append(f"  start -> {dot_id(states[0].name)};")
    loops: dict[str, list[str]] = {}
    for row in command.COMMAND_TRANSITIONS:
        text = f"<b>{html_text(row.trigger)}</b> {html_text(row.requirement)}"
        if row.dest == "=":
            loops.setdefault(row.source, []).append(text)
            continue
        edge_id = dot_id(command_edge_id(row.source, row.trigger, row.dest))
        out.append(f"  {dot_id(row.source)} -> {dot_id(row.dest)} [label=<{text}>, "
                   f"id={edge_id}];")
    for source, texts in loops.items():  # one loop per state: stacked loops overlap
        loop_id = dot_id(command_edge_id(source, "", "="))
        out.append(f"  {dot_id(source)} -> {dot_id(source)} [label=<{'<br/>'.join(texts)}>, "
                   f"id={loop_id}];")
    for source, rows in _waits().items():
        label = "<br/>".join(html_text(f"{r.trigger} \N{RIGHTWARDS ARROW} {r.requirement}")
                             for r in rows)
        out.append(f"  {dot_id(source)} -> {dot_id(_BROKEN)} [label=<{label}>, style=dashed,"
                   f' color="{_FAILED}", fontcolor="{_FAILED}", fontsize=9, constraint=false];')
    notes = "".join(html_text(line) + '<br align="left"/>' for line in _note_lines())
    out.append(f'  rejected [shape=note, style=filled, fillcolor="#fffaf0", color="{_FAILED}",'
               f' fontcolor="{_FAILED}", fontsize=9, label=<<b>also refused (to broken)'
               f'</b><br align="left"/>{notes}>];')
    out.append(f"  rejected -> {dot_id(_BROKEN)} [style=dashed, color=\"{_FAILED}\"];")
    out.append("}")
    return "\n".join(out) + "\n"


def to_mermaid() -> str:
    """The command machine as Mermaid `stateDiagram-v2` text."""
    states = command.COMMAND_STATES
    out = [
        "---",
        'title: "One command after C, zeus dialect'
        ' (generated from zeus_fsm/protocol/command.py)"',
        "---",
        "stateDiagram-v2",
        f"    [*] --> {states[0].name}",
    ]
    for state in states:  # the alias keeps the name shown above the description
        out.append(f'    state "{state.name}" as {state.name}')
        out.append(f"    {state.name} : {mermaid_text(state.doc)}")
    out += ["    " + edge for edge in mermaid_edges(command.COMMAND_TRANSITIONS)]
    for source, rows in _waits().items():
        label = "<br/>".join(mermaid_text(f"{r.trigger} \N{RIGHTWARDS ARROW} {r.requirement}")
                             for r in rows)
        out.append(f"    {source} --> {_BROKEN} : {label}")
    out.append(f"    note right of {_BROKEN}")
    out.append("        also refused (to broken):")
    out += [f"        {mermaid_text(line.split(':', 1)[0])}" for line in _note_lines()]
    out.append("    end note")
    out += [
        "    classDef failed fill:#fdecea,stroke:#c0392b,color:#7a1c12",
        f"    class {_BROKEN} failed",
    ]
    return "\n".join(out) + "\n"
