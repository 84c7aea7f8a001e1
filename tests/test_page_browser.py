"""The illustrated pages in a real browser: Debian's headless Chromium, from disk, offline.

Each test records console errors, uncaught exceptions and any request that is
not a local file, and asserts there were none. Screenshots of chosen steps go
to the test's tmp_path, and also to $ZEUS_FSM_SHOTS when that is set (to look
at them: they are what a reader sees at 1280x800).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from browser import browser_required
from click.testing import CliRunner
from test_page import EXAMPLES, needs_dot, steps_of
from test_trace import RESULT_BEFORE_PID

from zeus_fsm.cli import main
from zeus_fsm.protocol.dialects import DIALECT_NAMES

pytestmark = [browser_required, needs_dot]


class Watch:
    """What the page did that it should not: errors, and fetches from anywhere but disk."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        self.fetched: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console.{m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "about:"))
                else self.fetched.append(r.url))

    def assert_clean(self) -> None:
        assert self.problems == []
        assert self.fetched == [], "the page is not self-contained"


def open_page(page: Any, path: Path, step: int | None = None) -> Watch:
    watch = Watch(page)
    page.goto(path.as_uri() + (f"#step-{step}" if step else ""))
    page.wait_for_selector("body[data-ready=yes]")
    return watch


def shoot(page: Any, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), animations="disabled")  # transitions finished first
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("ZEUS_FSM_SHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
    return shot


def ids(page: Any, selector: str) -> list[str]:
    found: list[str] = page.eval_on_selector_all(selector, "els => els.map(e => e.id)")
    return sorted(found)


def shown_bytes(page: Any) -> list[str]:
    found: list[str] = page.eval_on_selector_all("#wire .field .bytes",
                                                 "els => els.map(e => e.textContent)")
    return found


def wait_for_step(page: Any, number: int) -> None:
    page.wait_for_function(f"location.hash === '#step-{number}'")


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_the_keyboard_walks_every_step_of_the_example_in_order(
        page: Any, name: str, tmp_path: Path) -> None:
    path = EXAMPLES[name]
    steps = steps_of(path.read_text(encoding="utf-8"))
    fail = next(s["number"] for s in steps if s["kind"] == "fail")
    shots = {1: "first", len(steps) // 2: "middle", fail: "failure", len(steps): "last"}
    watch = open_page(page, path)
    assert page.evaluate("location.hash") == "#step-1"
    previous: tuple[list[str], list[str], list[str]] | None = None
    changes = 0
    for step in steps:
        number = step["number"]
        if number > 1:
            page.keyboard.press("ArrowRight")
            wait_for_step(page, number)
        assert page.inner_text("#counter") == f"step {number} of {len(steps)}"
        assert page.inner_text("#step-title").startswith(f"{number}. ")
        assert ids(page, "#diagram .current") == sorted(step["states"])
        assert ids(page, "#diagram .taken") == sorted(step["edges"])
        assert ids(page, "#diagram .refused") == []
        assert shown_bytes(page) == [f[0] for frame in step["frames"] for f in frame]
        assert ids(page, "#lanes .row.current") == [f"row-{number}"]
        assert ids(page, "#lanes .lane.active") == sorted(
            [f"lane-{step['lane']}", f"lane-head-{step['lane']}"])
        now = (ids(page, "#lanes .lane.active"), ids(page, "#diagram .current"),
               shown_bytes(page))
        changes += now != previous
        previous = now
        if number in shots:
            shoot(page, tmp_path, f"{name}-{shots[number]}-step{number}")
    assert changes == len(steps)  # each step: another slave, other states or other bytes
    page.keyboard.press("ArrowRight")  # past the last step: it stays
    page.keyboard.press("ArrowLeft")
    wait_for_step(page, len(steps) - 1)
    watch.assert_clean()


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_what_the_root_says_is_shown_field_by_field_on_its_own_state(
        page: Any, name: str) -> None:
    watch = open_page(page, EXAMPLES[name], step=3)  # start, socket, then P
    fields = page.eval_on_selector_all(
        "#wire .field", "els => els.map(e => [e.querySelector('.bytes').textContent, "
                        "e.querySelector('.name').textContent])")
    if name == "zeus":
        assert fields == [["P", "P: Pid & Identifier"], [":", "sep"], ["4605", "pid"],
                          [":", "sep"], ["0", "parent pid"], [":", "sep"],
                          ["boot", "identifier"], ["\\0", "NUL end"]]
        assert ids(page, "#diagram .current") == ["state-pipe"]
    else:
        assert fields == [["P", "P: Pid & Identifier"], [":", "sep"], ["4605", "pid"],
                          [":", "sep"], ["", "identifier (empty)"]]
        # the parallel state: both regions' states at once
        assert ids(page, "#diagram .current") == ["state-up", "state-up_files_open",
                                                  "state-up_result_action"]
    assert "PID-1" in page.inner_text("#rules")
    assert "who it is" in page.inner_text("#step-title")
    assert page.inner_text("#explain")
    watch.assert_clean()


def test_a_commands_steps_show_the_command_machine_and_back(page: Any, tmp_path: Path) -> None:
    steps = steps_of(EXAMPLES["zeus"].read_text(encoding="utf-8"))
    header = next(s["number"] for s in steps if s["kind"] == "run-header")
    watch = open_page(page, EXAMPLES["zeus"], step=header - 1)  # the runner's socket
    assert page.is_visible("#machine-handshake svg")
    assert not page.is_visible("#machine-command svg")
    page.keyboard.press("ArrowRight")
    wait_for_step(page, header)
    assert page.is_visible("#machine-command svg")
    assert not page.is_visible("#machine-handshake svg")
    assert ids(page, "#machine-command .current") == ["cmd-state-headed"]
    assert ids(page, "#machine-command .taken") == ["cmd-edge-attached-header-headed"]
    assert page.inner_text("#legend-machine") == "the command machine of"
    assert shown_bytes(page)[:3] == ["4637", ":", "2"]
    shoot(page, tmp_path, f"zeus-command-header-step{header}")
    page.keyboard.press("ArrowLeft")
    wait_for_step(page, header - 1)
    assert page.is_visible("#machine-handshake svg")
    assert ids(page, "#machine-command .current") == []
    watch.assert_clean()


def test_a_step_link_opens_that_step_and_the_buttons_step(page: Any) -> None:
    watch = open_page(page, EXAMPLES["zeus"], step=12)
    assert page.inner_text("#counter").startswith("step 12 of ")
    assert ids(page, "#lanes .row.current") == ["row-12"]
    page.click("#next")
    wait_for_step(page, 13)
    page.click("#prev")
    page.click("#prev")
    wait_for_step(page, 11)
    page.evaluate("location.hash = '#step-5'")  # a teacher's link, followed in place
    page.wait_for_function("document.getElementById('counter').textContent.startsWith("
                           "'step 5 ')")
    page.dispatch_event("#row-7 .row-bg", "click")  # a row of the lanes is a link too
    wait_for_step(page, 7)
    assert page.is_disabled("#prev") is False
    page.keyboard.press("Home")
    wait_for_step(page, 1)
    assert page.is_disabled("#prev")
    fitted = page.evaluate("document.querySelector('#diagram svg').getBoundingClientRect().width")
    page.keyboard.press("z")  # the diagram at its own size, to read its small print
    zoomed = page.evaluate("document.querySelector('#diagram svg').getBoundingClientRect().width")
    assert zoomed > fitted * 1.3
    page.click("#zoom")
    assert page.evaluate(
        "document.querySelector('#diagram svg').getBoundingClientRect().width") == fitted
    watch.assert_clean()


def test_a_refusal_shows_on_the_broken_edge(page: Any, tmp_path: Path) -> None:
    slave = tmp_path / "result_before_pid.py"
    slave.write_text(RESULT_BEFORE_PID, encoding="utf-8")
    path = tmp_path / "refused.html"
    result = CliRunner().invoke(main, ["trace", "--dialect", "spec", "--timeout", "2",
                                       "--html", str(path), "--", sys.executable, str(slave)])
    assert result.exit_code == 1, result.output
    watch = open_page(page, path)
    page.keyboard.press("End")
    last = len(steps_of(path.read_text(encoding="utf-8")))
    wait_for_step(page, last)
    assert ids(page, "#diagram .refused") == ["reject-pid"]
    assert ids(page, "#diagram .current") == ["state-broken"]
    assert "breaks PID-1" in page.inner_text("#rules")
    assert page.inner_text("#step-title").startswith(f"{last}. REFUSED: ")
    shoot(page, tmp_path, "spec-refusal")
    watch.assert_clean()


def test_the_watch_does_see_errors(page: Any) -> None:
    """So that an empty list of problems means something."""
    watch = Watch(page)
    page.set_content("<script>console.error('boom'); null.x;</script>")
    page.wait_for_function("true")
    assert any("boom" in p for p in watch.problems)
    assert any("null" in p for p in watch.problems)
