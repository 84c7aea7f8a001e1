"""The slave handshake's state diagram, drawn from machine.py's tables.

Nothing here is drawn by hand: states, nesting, transitions and rejections
come from `machine.STATES`, `TRANSITIONS` and `REJECTIONS` for one dialect, so
the diagram cannot disagree with the machine that enforces the handshake.
Two outputs: Graphviz DOT (rendered to SVG elsewhere) and Mermaid
`stateDiagram-v2` text. Both are deterministic: table order, no timestamps.

The rejection rows are summarised as one dashed edge to `broken` per
top-level state that has any, labelled with the requirements they break (the
parallel state's rows, its regions' included, go in one note), so the picture
shows where a handshake can fail without a thicket of crossing edges.

Not imported by the slave or the master: teaching views stay off their
start-up path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import attrs

from zeus_fsm.protocol import machine
from zeus_fsm.protocol.tables import RejectionSpec, StateSpec, TransitionSpec

BROKEN: Final = "broken"
#: How a "*" rejection row (every trigger without a row) reads in a label.
_ANY_OTHER: Final = "anything else"
_FONT: Final = "Helvetica"
_HIGHLIGHT: Final = "#1f6feb"
_FAILED: Final = "#c0392b"


# --------------------------------------------------------------------------
# The tables' shape for one dialect
# --------------------------------------------------------------------------


@attrs.frozen
class Shape:
    """One dialect's states as a tree, with the transitions and rejections to draw."""

    dialect: str
    states: tuple[StateSpec, ...]
    transitions: tuple[TransitionSpec, ...]
    rejections: tuple[RejectionSpec, ...]

    @classmethod
    def of(cls, dialect: str) -> Shape:
        return cls(dialect, tuple(machine.states_for(dialect)),
                   tuple(machine.transitions_for(dialect)),
                   tuple(machine.rejections_for(dialect)))

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.states]

    def spec(self, name: str) -> StateSpec:
        return next(s for s in self.states if s.name == name)

    def children(self, parent: str | None) -> list[str]:
        """Direct children in table order; nesting is the "_" in a state's name."""
        return [n for n in self.names if parent_of(n) == parent]

    def is_composite(self, name: str) -> bool:
        return bool(self.children(name))

    def is_parallel(self, name: str) -> bool:
        """A composite whose children are all composite: each child is a region."""
        kids = self.children(name)
        return bool(kids) and all(self.is_composite(k) for k in kids)

    def initial_leaf(self, name: str) -> str:
        """The leaf an edge into `name` lands on (first child, as machine.py enters it)."""
        while self.is_composite(name):
            name = self.children(name)[0]
        return name

    @property
    def initial(self) -> str:
        return self.children(None)[0]

    def rejection_groups(self) -> list[tuple[str, list[str]]]:
        """The rejection rows summarised per top-level state, as label lines.

        Rows of states nested in a composite are folded into the composite's
        summary (prefixed "in <state>"), so each top-level waiting state gets
        one line of failure to `broken` and nothing crosses into a cluster.
        `broken`'s own rows are left out: nothing leaves it.
        """
        grouped: dict[str, dict[tuple[str, str], list[str]]] = {}
        for row in self.rejections:
            if row.source == BROKEN:
                continue
            top = row.source.split("_", 1)[0]
            where = "" if row.source == top else f"in {short_name(row.source)}: "
            by_requirement = grouped.setdefault(top, {})
            by_requirement.setdefault((where, row.requirement), []).append(
                trigger_text(row.trigger))
        order = {name: index for index, name in enumerate(self.names)}
        return [(source, [f"{where}{', '.join(triggers)} \N{RIGHTWARDS ARROW} {requirement}"
                          for (where, requirement), triggers in
                          sorted(groups.items(), key=lambda item: item[0][0] != "")])
                for source, groups in sorted(grouped.items(), key=lambda kv: order[kv[0]])]


def parent_of(name: str) -> str | None:
    return name.rsplit("_", 1)[0] if "_" in name else None


def short_name(name: str) -> str:
    return name.rsplit("_", 1)[-1]


def trigger_text(trigger: str) -> str:
    return _ANY_OTHER if trigger == "*" else trigger


def destination(row: TransitionSpec) -> str:
    """The state a transition ends in ("=" is an internal transition: it stays)."""
    return row.source if row.dest == "=" else row.dest


@attrs.frozen
class Highlight:
    """The path one run took (for `zeus-fsm trace --svg`): edges and states to mark.

    `steps` holds (source, trigger, dest) as the tables name them; `failed_from`
    is the state whose rejection ended the run, if one did.
    """

    steps: frozenset[tuple[str, str, str]] = frozenset()
    visited: frozenset[str] = frozenset()
    failed_from: str | None = None
    #: A line added to the legend under the title (say what the highlight means).
    caption: str = ""


# --------------------------------------------------------------------------
# Graphviz DOT
# --------------------------------------------------------------------------


def html_text(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _node_label(spec: StateSpec) -> str:
    return (f'<<b>{html_text(short_name(spec.name))}</b><br/>'
            f'<font point-size="9" color="#555555">{html_text(wrap(spec.doc, 28))}</font>>')


def wrap(text: str, width: int) -> str:
    """Break a description into short lines; the marker becomes <br/> after escaping."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


def html_lines(html: str) -> str:
    return html.replace("\n", "<br/>")


# --------------------------------------------------------------------------
# The flat machines' diagrams (lifecycle, command): one style for both
# --------------------------------------------------------------------------

FAILED_COLOUR: Final = _FAILED


def flat_dot_head(name: str, ranksep: float, title: str) -> list[str]:
    """A flat machine's opening DOT lines: the graph (`title`: its HTML label), the node
    and edge styles and the start dot."""
    return [
        f'digraph "{name}" {{',
        f'  graph [rankdir=TB, fontname="{_FONT}", fontsize=14, nodesep=0.6, ranksep={ranksep},'
        f' labelloc=t, pad=0.25, label=<{title}>];',
        f'  node [shape=box, style="rounded,filled", fillcolor="#ffffff", color="#333333",'
        f' fontname="{_FONT}", fontsize=12, margin="0.14,0.06"];',
        f'  edge [fontname="{_FONT}", fontsize=10, color="#333333", arrowsize=0.7];',
        '  start [shape=circle, width=0.18, fixedsize=true, style=filled, fillcolor=black,'
        ' label=""];',
    ]


def flat_state_label(spec: StateSpec) -> str:
    """A flat machine's state: its name in bold over its description."""
    return (f"<<b>{html_text(spec.name)}</b><br/><font point-size=\"9\" "
            f"color=\"#555555\">{html_lines(html_text(wrap(spec.doc, 26)))}</font>>")


def to_dot(dialect: str, highlight: Highlight | None = None) -> str:
    """The state diagram of one dialect as Graphviz DOT text.

    Top to bottom: the waiting states in a column, the parallel state below
    with its regions side by side, `broken` off to the right of the column.
    """
    shape = Shape.of(dialect)
    mark = highlight or Highlight()
    out: list[str] = [
        f"digraph {dot_id('handshake-' + dialect)} {{",
        f'  graph [rankdir=TB, compound=true, newrank=true, fontname="{_FONT}", fontsize=14,'
        ' nodesep=0.5, ranksep=0.45, labelloc=t, pad=0.25,'
        f' label=<<b>Slave handshake: {dialect} dialect</b><br/><font point-size="10">'
        'generated from zeus_fsm/protocol/machine.py. '
        'Edge: trigger and the requirement it satisfies.'
        '<br/>Dashed: events rejected there, and the requirement they break.'
        f'{"<br/>" + html_text(mark.caption) if mark.caption else ""}</font>>];',
        f'  node [shape=box, style="rounded,filled", fillcolor="#ffffff", color="#333333",'
        f' fontname="{_FONT}", fontsize=12, margin="0.14,0.06"];',
        f'  edge [fontname="{_FONT}", fontsize=10, color="#333333", arrowsize=0.7];',
        '  start [shape=circle, width=0.18, fixedsize=true, style=filled, fillcolor=black,'
        ' label=""];',
    ]
    out += _dot_states(shape, None, mark, "  ")
    out.append(f"  start -> {dot_id(shape.initial)};")
    out += _dot_transitions(shape, mark)
    out += _dot_rejections(shape, mark)
    out += _dot_placement(shape)
    out.append("}")
    return "\n".join(out) + "\n"


def _dot_states(shape: Shape, parent: str | None, mark: Highlight, indent: str) -> list[str]:
    out: list[str] = []
    for name in shape.children(parent):
        spec = shape.spec(name)
        if shape.is_composite(name):
            out += _dot_cluster(shape, name, mark, indent)
            continue
        attrs_: list[str] = [f"label={html_lines(_node_label(spec))}",
                             f"id={dot_id(state_element_id(name))}"]
        if spec.terminal:
            attrs_.append("peripheries=2")
        if name == BROKEN:
            attrs_.append(f'fillcolor="#fdecea", color="{_FAILED}"')
        if name in mark.visited:
            fill = "#fdecea" if name == BROKEN else "#dbe9ff"
            attrs_.append(f'fillcolor="{fill}", penwidth=2.4')
        out.append(f"{indent}{dot_id(name)} [{', '.join(attrs_)}];")
    return out


def _dot_cluster(shape: Shape, name: str, mark: Highlight, indent: str) -> list[str]:
    parent = parent_of(name)
    region = parent is not None and shape.is_parallel(parent)
    doc = shape.spec(name).doc
    if region:
        style = 'style="rounded,dashed", color="#888888", fontsize=11, margin=22'
        title = f"<i>region</i> <b>{html_text(short_name(name))}</b>"
    else:
        style = 'style="rounded,filled", fillcolor="#f4f6fa", color="#333333", fontsize=12'
        title = f"<b>{html_text(short_name(name))}</b><br/>{html_lines(html_text(wrap(doc, 60)))}"
    out = [f"{indent}subgraph {dot_id('cluster_' + name)} {{",
           f"{indent}  graph [{style}, id={dot_id(state_element_id(name))}, label=<{title}>];"]
    if region:  # a region starts at its own initial dot
        start_dot = dot_id("start_" + name)
        out.append(f'{indent}  {start_dot} [shape=circle, width=0.13, fixedsize=true,'
                   ' style=filled, fillcolor=black, label=""];')
        out.append(f"{indent}  {start_dot} -> {dot_id(shape.children(name)[0])};")
    out += _dot_states(shape, name, mark, indent + "  ")
    out.append(f"{indent}}}")
    return out


def _dot_placement(shape: Shape) -> list[str]:
    """Rank hints only: regions side by side in table order, `broken` beside the
    last waiting state (so failure edges stay short and do not cross the regions)."""
    out: list[str] = []
    for name in shape.names:
        if shape.is_parallel(name):
            dots = [dot_id("start_" + region) for region in shape.children(name)]
            out.append(f"  {{rank=same; {'; '.join(dots)};}}")
            out.append(f"  {' -> '.join(dots)} [style=invis];")
    waiting = [n for n in shape.children(None) if not shape.is_composite(n) and n != BROKEN]
    if waiting:
        notes = [dot_id(_note_id(n)) for n in shape.children(None) if shape.is_composite(n)]
        row = [dot_id(waiting[-1]), dot_id(BROKEN), *notes]
        out.append(f"  {{rank=same; {'; '.join(row)};}}")
        if notes:  # left to right: the state, broken, then the notes
            out.append(f"  {' -> '.join(row[1:])} [style=invis];")
    return out


def _entry_node(shape: Shape, state: str) -> str:
    """Where an edge into `state` lands: a leaf, or a region's initial dot."""
    while shape.is_composite(state):
        first = shape.children(state)[0]
        if shape.is_parallel(state):
            return "start_" + first
        state = first
    return state


def _dot_transitions(shape: Shape, mark: Highlight) -> list[str]:
    out: list[str] = []
    loops: dict[str, list[TransitionSpec]] = {}
    for row in shape.transitions:
        if row.dest == "=":
            loops.setdefault(row.source, []).append(row)
            continue
        taken = (row.source, row.trigger, row.dest) in mark.steps
        edge = [f"label=<<b>{html_text(row.trigger)}</b> {html_text(row.requirement)}>",
                f"id={dot_id(edge_element_id(row))}"]
        if shape.is_composite(row.dest):
            edge.append(f"lhead={dot_id('cluster_' + row.dest)}")
        out.append(f"  {dot_id(row.source)} -> {dot_id(_entry_node(shape, row.dest))}"
                   f" [{', '.join(edge + _taken(taken))}];")
        if shape.is_parallel(row.dest):  # keep every region level with the first one
            for region in shape.children(row.dest)[1:]:
                out.append(f"  {dot_id(row.source)} -> {dot_id('start_' + region)}"
                           " [style=invis];")
    # internal transitions of one state share one loop: stacked loops overlap
    for source, rows in loops.items():
        taken_rows = [(r.source, r.trigger, r.dest) in mark.steps for r in rows]
        label = "<br/>".join(_loop_line(r, taken and len(rows) > 1)
                             for r, taken in zip(rows, taken_rows, strict=True))
        style = _taken(any(taken_rows))
        if len(rows) > 1:  # the label colours its own lines
            style = [part.replace(f', fontcolor="{_HIGHLIGHT}"', "") for part in style]
        loop = [f"label=<{label}>", _id(loop_element_id(source)), *style]
        out.append(f"  {dot_id(source)} -> {dot_id(source)} [{', '.join(loop)}];")
    return out


def _loop_line(row: TransitionSpec, taken: bool) -> str:
    """One transition on a shared loop; when only some were taken, colour those."""
    text = f"<b>{html_text(row.trigger)}</b> {html_text(row.requirement)}"
    return f'<font color="{_HIGHLIGHT}">{text}</font>' if taken else text


def _taken(taken: bool) -> list[str]:
    return [f'color="{_HIGHLIGHT}", fontcolor="{_HIGHLIGHT}", penwidth=2.6'] if taken else []


def _dot_rejections(shape: Shape, mark: Highlight) -> list[str]:
    """One dashed edge per top-level state; a composite's summary is a note node
    (an edge label would be drawn inside the cluster, over its states)."""
    out: list[str] = []
    for source, lines in shape.rejection_groups():
        style = ["style=dashed", f'color="{_FAILED}"', f'fontcolor="{_FAILED}"', "fontsize=9"]
        if mark.failed_from is not None and mark.failed_from.split("_", 1)[0] == source:
            style = [*style[1:], "style=bold", "penwidth=2.6"]
        if not shape.is_composite(source):
            label = "<br/>".join(html_text(line) for line in lines)
            edge = [f"label=<{label}>", _id(rejection_element_id(source)), *style]
            out.append(f"  {dot_id(source)} -> {dot_id(BROKEN)} [{', '.join(edge)}];")
            continue
        label = "".join(html_text(line) + '<br align="left"/>' for line in lines)
        note = dot_id(_note_id(source))
        out.append(f'  {note} [shape=note, style=filled, fillcolor="#fffaf0",'
                   f' {_id(rejection_element_id(source, "note"))},'
                   f' color="{_FAILED}", fontcolor="{_FAILED}", fontsize=9,'
                   f' label=<<b>rejected in {html_text(source)}</b><br align="left"/>{label}>];')
        into_note = [f"ltail={dot_id('cluster_' + source)}", "arrowhead=none",
                     _id(rejection_element_id(source, "in")), *style]
        out.append(f"  {dot_id(shape.initial_leaf(source))} -> {note}"
                   f" [{', '.join(into_note)}];")
        out.append(f"  {note} -> {dot_id(BROKEN)}"
                   f" [{', '.join([_id(rejection_element_id(source, 'out')), *style])}];")
    return out


def _note_id(state: str) -> str:
    return "rejected_" + state


def _id(element_id: str) -> str:
    return f"id={dot_id(element_id)}"


# Stable SVG element ids (Graphviz's `id` attribute), so a page can find and
# highlight a state or an edge of the rendered diagram by its table name.


def state_element_id(state: str) -> str:
    """A state's node, or a composite state's cluster."""
    return f"state-{state}"


def edge_element_id(row: TransitionSpec) -> str:
    """A transition's edge; internal transitions share their state's loop."""
    if row.dest == "=":
        return loop_element_id(row.source)
    return f"edge-{row.source}-{row.trigger}-{row.dest}"


def loop_element_id(state: str) -> str:
    return f"loop-{state}"


def rejection_element_id(top_state: str, part: str = "") -> str:
    """The dashed edge to `broken` from a top-level state (a composite's has a note:
    parts "in", "note" and "out")."""
    return f"reject-{top_state}" + (f"-{part}" if part else "")


# --------------------------------------------------------------------------
# Mermaid
# --------------------------------------------------------------------------


def mermaid_text(text: str) -> str:
    """Make text safe inside a Mermaid label: `;` ends a statement, `#` starts an
    entity, `<` `>` would be read as HTML. A newline becomes a line break."""
    safe = (text.replace("#", "#35;").replace(";", "#59;")
            .replace("<", "#lt;").replace(">", "#gt;"))
    return safe.replace("\n", "<br/>")


def transition_label(row: TransitionSpec) -> str:
    return f"{row.trigger} · {row.requirement}"


def mermaid_edges(rows: Iterable[TransitionSpec]) -> list[str]:
    """One Mermaid edge per (source, destination), its transitions' labels stacked:
    Mermaid draws two edges between the same states on top of each other."""
    labels: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        labels.setdefault((row.source, destination(row)), []).append(transition_label(row))
    return [f"{source} --> {dest} : {'<br/>'.join(mermaid_text(t) for t in texts)}"
            for (source, dest), texts in labels.items()]


def to_mermaid(dialect: str) -> str:
    """The state diagram of one dialect as Mermaid `stateDiagram-v2` text."""
    shape = Shape.of(dialect)
    out = [
        "---",
        f'title: "Slave handshake, {dialect} dialect'
        ' (generated from zeus_fsm/protocol/machine.py)"',
        "---",
        "stateDiagram-v2",
        f"    [*] --> {shape.initial}",
    ]
    out += _mermaid_states(shape, None, "    ")
    out += ["    " + edge for edge in mermaid_edges(shape.transitions)]
    for source, lines in shape.rejection_groups():
        label = "<br/>".join(mermaid_text(line) for line in lines)
        out.append(f"    {source} --> {BROKEN} : rejected<br/>{label}")
    out += [
        "    classDef failed fill:#fdecea,stroke:#c0392b,color:#7a1c12",
        f"    class {BROKEN} failed",
    ]
    return "\n".join(out) + "\n"


def _mermaid_states(shape: Shape, parent: str | None, indent: str) -> list[str]:
    out: list[str] = []
    kids = shape.children(parent)
    parallel = parent is not None and shape.is_parallel(parent)
    for index, name in enumerate(kids):
        spec = shape.spec(name)
        if parallel and index:
            out.append(f"{indent}--")  # Mermaid's separator between concurrent regions
        if shape.is_composite(name):
            out.append(f'{indent}state "{short_name(name)}" as {name} {{')
            if not shape.is_parallel(name):  # regions start themselves, all at once
                out.append(f"{indent}    [*] --> {shape.children(name)[0]}")
            out += _mermaid_states(shape, name, indent + "    ")
            out.append(f"{indent}}}")
            continue
        out.append(f'{indent}state "{short_name(name)}" as {name}')
        out.append(f"{indent}{name} : {mermaid_text(spec.doc)}")
        if spec.terminal and parent is not None:
            out.append(f"{indent}{name} --> [*]")
    return out


def every_state(dialect: str) -> list[str]:
    return Shape.of(dialect).names
