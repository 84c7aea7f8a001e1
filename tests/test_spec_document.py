"""spec/handshake.md and spec/machine.json say what the code does, and nothing else."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from zeus_fsm.cli import main
from zeus_fsm.protocol.client import CLIENT_REJECTIONS, CLIENT_TRANSITIONS
from zeus_fsm.protocol.command import COMMAND_REJECTIONS, COMMAND_TRANSITIONS
from zeus_fsm.protocol.dialects import MAX_MESSAGE, MAX_PATH_LINE
from zeus_fsm.protocol.machine import REJECTIONS, TRANSITIONS
from zeus_fsm.protocol.requirements import REQUIREMENTS, SECTIONS, Requirement
from zeus_fsm.protocol.tables import TransitionSpec
from zeus_fsm.views.export import render

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / "spec" / "handshake.md").read_text(encoding="utf-8")
REQUIREMENT_LINE = re.compile(
    r"^- \*\*(?P<id>[A-Z]+-\d+)\*\* \((?P<level>MUST|SHOULD), (?P<dialects>both|spec|zeus)\): "
    r"(?P<text>.+)$")
ENFORCED_LINE = re.compile(r"^  Enforced by: (?P<what>.+)$")
HEADING = re.compile(r"^## (?P<number>\d+)\. (?P<title>.+)$")
TOKEN = re.compile(r"(transition|rejection|guard) `([^`]+)`")


class Documented:
    def __init__(self, section: str | None, level: str, dialects: str, text: str) -> None:
        self.section, self.level, self.dialects, self.text = section, level, dialects, text
        self.enforced = ""


def parse(doc: str) -> tuple[list[tuple[str, str]], dict[str, Documented], list[str]]:
    """Headings, requirements by ID, and IDs defined more than once."""
    headings: list[tuple[str, str]] = []
    found: dict[str, Documented] = {}
    duplicates: list[str] = []
    section: str | None = None
    last: Documented | None = None
    for line in doc.splitlines():
        if heading := HEADING.match(line):
            section = heading["number"]
            headings.append((heading["number"], heading["title"]))
        elif req := REQUIREMENT_LINE.match(line):
            if req["id"] in found:
                duplicates.append(req["id"])
            last = found[req["id"]] = Documented(section, req["level"], req["dialects"],
                                                 req["text"])
            continue
        elif (enforced := ENFORCED_LINE.match(line)) and last is not None:
            last.enforced = enforced["what"]
        last = None
    return headings, found, duplicates


HEADINGS, DOCUMENTED, DUPLICATES = parse(DOC)
#: The rows of every machine: the handshake's, the command's and the client's.
ALL_TRANSITIONS = (*TRANSITIONS, *COMMAND_TRANSITIONS, *CLIENT_TRANSITIONS)
ALL_REJECTIONS = (*REJECTIONS, *COMMAND_REJECTIONS, *CLIENT_REJECTIONS)


def dialects_word(dialects: frozenset[str]) -> str:
    return "both" if dialects == {"spec", "zeus"} else next(iter(dialects))


def test_numbered_sections_are_the_code_sections_in_order() -> None:
    assert list(SECTIONS.items()) == HEADINGS


def test_every_requirement_in_code_is_in_the_document_and_vice_versa() -> None:
    assert not DUPLICATES
    assert set(DOCUMENTED) == {r.id for r in REQUIREMENTS}


@pytest.mark.parametrize("req", REQUIREMENTS, ids=lambda r: r.id)
def test_requirement_line_matches_code(req: Requirement) -> None:
    line = DOCUMENTED[req.id]
    assert line.text == req.text
    assert line.level == req.level
    assert line.dialects == dialects_word(req.dialects)
    assert line.section == req.section, f"{req.id} is under the wrong heading"


def transition_token(t: TransitionSpec) -> str:
    return f"{t.trigger}: {t.source} -> {t.dest}"


@pytest.mark.parametrize("req", REQUIREMENTS, ids=lambda r: r.id)
def test_enforced_by_lists_exactly_the_table_rows_citing_it(req: Requirement) -> None:
    enforced = DOCUMENTED[req.id].enforced
    assert enforced, f"{req.id} has no 'Enforced by' line"
    tokens = TOKEN.findall(enforced)
    listed = {(kind, value) for kind, value in tokens}
    assert len(listed) == len(tokens), f"{req.id} lists a row twice"
    assert {v for k, v in listed if k == "transition"} == {
        transition_token(t) for t in ALL_TRANSITIONS if t.requirement == req.id}
    assert {v for k, v in listed if k == "rejection"} == {
        f"{r.trigger} @ {r.source}" for r in ALL_REJECTIONS if r.requirement == req.id}
    for guard in (v for k, v in listed if k == "guard"):
        assert any(guard in t.guards and t.dialects & req.dialects for t in ALL_TRANSITIONS), \
            f"{req.id}: no transition of its dialects runs guard {guard!r}"
    if not listed and "decoder" not in enforced:
        assert enforced.startswith("not the machine: "), enforced


def test_every_guard_in_the_tables_is_documented_under_some_requirement() -> None:
    documented = {v for d in DOCUMENTED.values() for k, v in TOKEN.findall(d.enforced)
                  if k == "guard"}
    assert documented == {g for t in ALL_TRANSITIONS for g in t.guards}


def test_every_requirement_the_tables_cite_exists() -> None:
    known = {r.id for r in REQUIREMENTS}
    assert {t.requirement for t in ALL_TRANSITIONS} <= known
    assert {r.requirement for r in ALL_REJECTIONS} <= known


def test_decoder_enforcement_matches_the_vectors() -> None:
    """A requirement the doc says the decoder enforces has an invalid vector, and back."""
    cited: set[str] = set()
    for name in ("spec", "zeus", "client"):
        doc = json.loads((REPO / "spec" / "vectors" / f"{name}.json").read_text("utf-8"))
        for section in ("invalid", "pipe_invalid", "runner_invalid", "header_invalid",
                        "request_invalid", "reply_invalid",
                        "arguments_invalid"):
            cited |= {entry["requirement"] for entry in doc.get(section, [])}
    claimed = {rid for rid, d in DOCUMENTED.items()
               if "decoder" in [item.strip() for item in d.enforced.split(";")]}
    assert claimed == cited


def test_document_states_the_limits_the_code_uses() -> None:
    assert f"{MAX_MESSAGE} bytes" in DOC
    assert f"{MAX_PATH_LINE} bytes before the newline" in DOC
    for fact in ("no end-of-file", "pidfd", "surrogate", "SOCK_DGRAM", "SOCK_STREAM"):
        assert fact in DOC, fact


# ---- spec/machine.json -----------------------------------------------------


def test_committed_machine_json_is_a_fresh_export() -> None:
    assert (REPO / "spec" / "machine.json").read_text(encoding="utf-8") == render()


def test_spec_export_check_passes_from_the_console_script() -> None:
    script = Path(sys.executable).with_name("zeus-fsm")
    result = subprocess.run([str(script), "spec", "export", "--check"], cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_spec_export_check_fails_on_a_modified_copy(tmp_path: Path) -> None:
    copy = tmp_path / "machine.json"
    shutil.copy(REPO / "spec" / "machine.json", copy)
    runner = CliRunner()
    assert runner.invoke(main, ["spec", "export", "--check", "--out", str(copy)]).exit_code == 0
    document = json.loads(copy.read_text(encoding="utf-8"))
    document["dialects"]["zeus"]["transitions"].pop()
    copy.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    result = runner.invoke(main, ["spec", "export", "--check", "--out", str(copy)])
    assert result.exit_code == 1
    assert "stale" in result.stderr
    missing = runner.invoke(main, ["spec", "export", "--check", "--out",
                                   str(tmp_path / "absent.json")])
    assert missing.exit_code == 1


def test_spec_export_writes_the_fresh_export(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "machine.json"
    result = CliRunner().invoke(main, ["spec", "export", "--out", str(out)])
    assert result.exit_code == 0
    assert out.read_text(encoding="utf-8") == render()
