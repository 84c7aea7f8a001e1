"""The processes of a run as lanes: one column per process, one row per step.

A small sequence diagram drawn as SVG text: the master on the left, the root
slave next, each forked child to the right of its parent. A row's arrow goes
from the step's sender to its receiver; an S row also draws the fork (dashed,
from the parent to the new child's lane), so the tree is visible. Every row
is a `<g id="row-N">`, which the page highlights and scrolls to.
"""

from __future__ import annotations

from typing import Final

from zeus_fsm.protocol.escapes import escape_bytes
from zeus_fsm.protocol.messages import LoadedFiles
from zeus_fsm.trace.steps import MASTER, Lane, Step, Story
from zeus_fsm.views.state import html_text

ROW: Final = 20
HEAD: Final = 36  # the header (lane names) is its own SVG: it stays put while rows scroll
TOP: Final = 4
GUTTER: Final = 26
MASTER_WIDTH: Final = 100
LANE_WIDTH: Final = 100
#: The width the page gives the lanes: with a runner and a command, lanes get narrower
#: (down to NARROWEST, then the box scrolls) rather than run out of sight.
FIT: Final = 520
NARROWEST: Final = 66
#: How much of a message a row shows.
SHORT: Final = 18


def short_label(step: Step) -> str:
    """A few characters that say what crossed the wire in this step."""
    kind = step.kind
    if step.violation and not step.frames:
        return "refused"
    if kind == "start":
        return "start (fd 3)"
    if kind in ("socket", "pipe"):
        return "\\0 + fd"
    if kind == "files":
        count = len(step.event.paths) if isinstance(step.event, LoadedFiles) else 0
        return f"{count} file{'s' if count != 1 else ''}"
    if kind == "hangup":
        return "closed"
    if kind == "pipeclose":
        return "pipe EOF"
    if kind == "timeout":
        return "timeout"
    if kind == "run-fds":
        return "3 \N{MULTIPLICATION SIGN} \\0 + fd"
    if kind == "run-ended":
        return "exits"
    text = escape_bytes(b"".join(field.data for field in step.frames[0])) if step.frames else kind
    return text if len(text) <= SHORT else text[:SHORT - 1] + "\N{HORIZONTAL ELLIPSIS}"


def lane_width(lanes: tuple[Lane, ...]) -> float:
    slaves = max(1, len(lanes) - 1)
    return max(NARROWEST, min(LANE_WIDTH, (FIT - GUTTER - MASTER_WIDTH) / slaves))


def _columns(lanes: tuple[Lane, ...]) -> dict[str, float]:
    xs: dict[str, float] = {}
    x = GUTTER + MASTER_WIDTH / 2
    each = lane_width(lanes)
    for lane in lanes:
        xs[lane.key] = x
        x += (MASTER_WIDTH / 2 + each / 2) if lane.key == MASTER else each
    return xs


def lanes_svg(story: Story) -> tuple[str, str]:
    """Two SVGs: the lanes' names (a header that stays put), then the rows."""
    xs = _columns(story.lanes)
    each = lane_width(story.lanes)
    narrow = ' class="narrow"' if each < LANE_WIDTH else ""
    width = int(max(xs.values()) + each / 2)
    height = TOP + ROW * len(story.steps) + 8
    first = {lane.key: 0 for lane in story.lanes if lane.key == MASTER}
    for step in story.steps:
        for key in (step.lane, step.sender, step.receiver):
            first.setdefault(key, step.number)
        child = _child_of(step, story)
        if child is not None:
            first.setdefault(child, step.number)  # its lifeline starts at the fork
    head = [f'<svg xmlns="http://www.w3.org/2000/svg" id="lanes-head-svg"{narrow} width="{width}" '
            f'height="{HEAD}" viewBox="0 0 {width} {HEAD}" role="img" '
            'aria-label="one lane per process">']
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" id="lanes-svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           'aria-label="the processes of the run as lanes, one row per step">']
    for lane in story.lanes:
        x = xs[lane.key]
        top = 0 if lane.key == MASTER else TOP + ROW * (first.get(lane.key, 1) - 1)
        name, _, pid = lane.label.partition(" (")
        head.append(f'<g class="lane" id="lane-head-{lane.key}">')
        head.append(f'<text x="{x:g}" y="15" class="lane-name">{html_text(name)}</text>')
        if pid:
            head.append(f'<text x="{x:g}" y="29" class="lane-pid">({html_text(pid)}</text>')
        head.append("</g>")
        out.append(f'<g class="lane" id="lane-{lane.key}">')
        out.append(f'<line x1="{x:g}" y1="{top}" x2="{x:g}" y2="{height - 4}" '
                   'class="lifeline"/>')
        out.append("</g>")
    for step in story.steps:
        out += _row(step, xs, width, story)
    head.append("</svg>")
    out.append("</svg>")
    return "\n".join(head) + "\n", "\n".join(out) + "\n"


def _row(step: Step, xs: dict[str, float], width: int, story: Story) -> list[str]:
    y = TOP + ROW * (step.number - 1)
    mid = y + ROW / 2
    kind = "refused" if step.violation else step.kind
    out = [f'<g class="row kind-{kind}" id="row-{step.number}" data-step="{step.number}">',
           f'<rect x="0" y="{y}" width="{width}" height="{ROW}" class="row-bg"/>',
           f'<text x="4" y="{mid + 4:g}" class="row-number">{step.number}</text>']
    x1, x2 = xs[step.sender], xs[step.receiver]
    dashed = " dashed" if step.kind in ("start", "signal", "hangup", "pipeclose",
                                          "run-ended", "run-hangup", "run-timeout") else ""
    tip = 5 if x2 > x1 else -5
    out.append(f'<line x1="{x1:g}" y1="{mid:g}" x2="{x2 - tip:g}" y2="{mid:g}" '
               f'class="arrow{dashed}"/>')
    out.append(f'<path d="M{x2:g},{mid:g} l{-tip * 1.4:g},-4 l0,8 z" class="head"/>')
    label_x = (x1 + x2) / 2
    out.append(f'<text x="{label_x:g}" y="{mid - 3:g}" class="row-label">'
               f'{html_text(short_label(step))}</text>')
    child = _child_of(step, story)
    if child is not None:
        cx = xs[child]
        out.append(f'<line x1="{x2:g}" y1="{mid:g}" x2="{cx - 5:g}" y2="{mid:g}" '
                   'class="fork"/>')
        out.append(f'<path d="M{cx:g},{mid:g} l-7,-4 l0,8 z" class="fork-head"/>')
        out.append(f'<text x="{(x2 + cx) / 2:g}" y="{mid - 3:g}" class="fork-label">'
                   'fork</text>')
    out.append("</g>")
    return out


def _child_of(step: Step, story: Story) -> str | None:
    """The lane this step forks: a runner on C; on S, the lane whose first step comes
    right after it (its forked child)."""
    if step.forks is not None:
        return step.forks
    if step.kind != "spawn":
        return None
    seen = {s.lane for s in story.steps[:step.number]}
    for later in story.steps[step.number:]:
        if later.lane not in seen and later.lane != MASTER:
            return later.lane
    return None
