"""The master's view of one slave process, drawn from lifecycle.py's tables.

Same rules as views/state.py: every state, transition and rejection comes from
`LIFECYCLE_STATES`, `LIFECYCLE_TRANSITIONS` and `LIFECYCLE_REJECTIONS`, in
table order. The catch-all rejections ("any other state") are one note, not
an edge from every state.
"""

from __future__ import annotations

from zeus_fsm.protocol import lifecycle
from zeus_fsm.views.state import dot_id, html_lines, html_text, mermaid_text, wrap

_FONT = "Helvetica"
_FAILED = "#c0392b"


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
    out = [
        'digraph "lifecycle" {',
        f'  graph [rankdir=TB, fontname="{_FONT}", fontsize=14, nodesep=0.6, ranksep=0.5,'
        ' labelloc=t, pad=0.25, label=<<b>The master\'s view of one slave process</b>'
        '<br/><font point-size="10">generated from zeus_fsm/protocol/lifecycle.py. '
        'Edge: trigger and '
        'the requirement it serves.</font>>];',
        f'  node [shape=box, style="rounded,filled", fillcolor="#ffffff", color="#333333",'
        f' fontname="{_FONT}", fontsize=12, margin="0.14,0.06"];',
        f'  edge [fontname="{_FONT}", fontsize=10, color="#333333", arrowsize=0.7];',
        '  start [shape=circle, width=0.18, fixedsize=true, style=filled, fillcolor=black,'
        ' label=""];',
    ]
    for state in states:
        label = (f"<<b>{html_text(state.name)}</b><br/><font point-size=\"9\" "
                 f"color=\"#555555\">{html_lines(html_text(wrap(state.doc, 26)))}</font>>")
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
