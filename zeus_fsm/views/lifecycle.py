"""The master's view of one slave process, drawn from lifecycle.py's tables.

Same rules as views/state.py: every state, transition and rejection comes from
`LIFECYCLE_STATES`, `LIFECYCLE_TRANSITIONS` and `LIFECYCLE_REJECTIONS`, in
table order. The catch-all rejections ("any other state") are one note, not
an edge from every state.
"""

from __future__ import annotations

from zeus_fsm.protocol import lifecycle
from zeus_fsm.views.state import (
    FAILED_COLOUR,
    dot_id,
    flat_dot_head,
    flat_state_label,
    html_text,
    mermaid_text,
)

_FAILED = FAILED_COLOUR


def _rejection_lines() -> list[str]:
    lines: list[str] = []
    for row in lifecycle.LIFECYCLE_REJECTIONS:
        where = "anywhere else" if row.source == "*" else f"in {row.source}"
        lines.append(f"{row.trigger} {where} \N{RIGHTWARDS ARROW} {row.requirement}: "
                     f"{row.reason}")
    return lines


def to_dot() -> str:
    """The lifecycle as Graphviz DOT text (top to bottom, the happy path in one column)."""
    states = lifecycle.LIFECYCLE_STATES
    out = flat_dot_head(
        "lifecycle", 0.5, "<b>The master's view of one slave process</b><br/><font "
        'point-size="10">generated from zeus_fsm/protocol/lifecycle.py. Edge: trigger and '
        'the requirement it serves.</font>')
    for state in states:
        label = flat_state_label(state)
        extra = ", peripheries=2" if state.terminal else ""
        out.append(f"  {dot_id(state.name)} [label={label}{extra}];")
    out.append(f"  start -> {dot_id(states[0].name)};")
    for row in lifecycle.LIFECYCLE_TRANSITIONS:
        # edges that go back (reset) must not pull the layout into a loop
        back = [", constraint=false, style=dotted"] if row.trigger == "reset" else []
        out.append(f"  {dot_id(row.source)} -> {dot_id(row.dest)} [label=<<b>"
                   f"{html_text(row.trigger)}</b> {html_text(row.requirement)}>{''.join(back)}];")
    notes = "".join(html_text(line) + '<br align="left"/>' for line in _rejection_lines())
    out.append(f'  rejected [shape=note, style=filled, fillcolor="#fffaf0", color="{_FAILED}",'
               f' fontcolor="{_FAILED}", fontsize=9, label=<<b>rejected (state unchanged)'
               f'</b><br align="left"/>{notes}>];')
    out.append("}")
    return "\n".join(out) + "\n"


def to_mermaid() -> str:
    """The lifecycle as Mermaid `stateDiagram-v2` text."""
    states = lifecycle.LIFECYCLE_STATES
    out = [
        "---",
        'title: "The master\'s view of one slave process'
        ' (generated from zeus_fsm/protocol/lifecycle.py)"',
        "---",
        "stateDiagram-v2",
        f"    [*] --> {states[0].name}",
    ]
    for state in states:  # the alias keeps the name shown above the description
        out.append(f'    state "{state.name}" as {state.name}')
        out.append(f"    {state.name} : {mermaid_text(state.doc)}")
    for row in lifecycle.LIFECYCLE_TRANSITIONS:
        out.append(f"    {row.source} --> {row.dest} : "
                   f"{mermaid_text(row.trigger + ' · ' + row.requirement)}")
    # Mermaid wraps notes narrowly: the short form here, the reasons in the SVG
    out.append(f"    note right of {states[-1].name}")
    out.append("        refused where no edge allows it (state unchanged):")
    out += [f"        {mermaid_text(row.trigger)}"
            f"{'' if row.source == '*' else ' in ' + row.source}"
            f" \N{RIGHTWARDS ARROW} {row.requirement}"
            for row in lifecycle.LIFECYCLE_REJECTIONS]
    out.append("    end note")
    return "\n".join(out) + "\n"
