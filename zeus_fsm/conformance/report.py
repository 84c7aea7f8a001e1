"""Reports of a check run: text (colour only on a terminal), JSON and JUnit XML; the case list.

Text, h2spec-like: cases grouped by section under the section's title, one line
per case (mark, id, title, requirement), and under a failure or a warning
`Expected:`, `Actual:` and the MUST/SHOULD sentence of the broken requirement.
The last line is the summary, exactly `N passed, M failed` (`, K skipped`).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence

from zeus_fsm.conformance.cases import CASES, Case
from zeus_fsm.conformance.runner import (
    FAILED,
    PASSED,
    SKIPPED,
    WARNING,
    CaseResult,
    RunConfig,
    Summary,
)
from zeus_fsm.protocol.requirements import SECTIONS

MARKS = {PASSED: "PASS", FAILED: "FAIL", WARNING: "WARN", SKIPPED: "SKIP"}
COLOURS = {PASSED: "green", FAILED: "red", WARNING: "yellow", SKIPPED: "cyan"}

Style = Callable[[str, str], str]  # (text, colour) -> text


def plain(text: str, _colour: str) -> str:
    return text


def section_heading(section: str) -> str:
    return f"{section}. {SECTIONS[section]}"


def case_line(case: Case) -> str:
    return f"{case.id} {case.title} [{case.requirement} {case.level}]"


class TextReport:
    """Writes the run as it goes: a heading per section, a line per case, then the summary."""

    def __init__(self, write: Callable[[str], None], style: Style = plain) -> None:
        self._write = write
        self._style = style
        self._section: str | None = None

    def start(self, config: RunConfig, count: int) -> None:
        self._write(f"zeus-fsm check: {count} case{'' if count == 1 else 's'}, "
                    f"dialect {config.dialect}, "
                    f"timeout {config.timeout:g} s per step{', strict' if config.strict else ''}")
        self._write(f"slave: {' '.join(config.command)}")

    def case(self, result: CaseResult) -> None:
        case = result.case
        if case.section != self._section:
            self._section = case.section
            self._write("")
            self._write(self._style(section_heading(case.section), "bold"))
        mark = self._style(MARKS[result.verdict], COLOURS[result.verdict])
        self._write(f"  {mark} {case_line(case)}")
        if result.verdict in (FAILED, WARNING):
            self._write(f"       Expected: {result.expected}")
            self._write(f"       Actual:   {result.actual}")
            if result.sentence:
                self._write(f"       {result.sentence}")
            for line in result.stderr_tail:
                self._write(f"       slave stderr| {line}")
        elif result.verdict == SKIPPED:
            self._write(f"       Skipped: {result.actual}")

    def finish(self, results: Sequence[CaseResult]) -> None:
        summary = Summary.of(results)
        self._write("")
        for line in root_causes(results):
            self._write(self._style(line, COLOURS[FAILED]))
        survived = [f"{r.case.id}: {', '.join(map(str, r.survivors))}"
                    for r in results if r.survivors]
        if survived:
            self._write(self._style("checker error (please report): processes of the slave "
                                    "survived their case: " + "; ".join(survived),
                                    COLOURS[FAILED]))
        warned = [r.case.id for r in results if r.verdict == WARNING]
        if warned:
            self._write(self._style(
                f"warning: {len(warned)} SHOULD-level case(s) did not hold: {', '.join(warned)} "
                "(counted as passed; --strict fails them)", COLOURS[WARNING]))
        colour = COLOURS[FAILED] if summary.failed else COLOURS[PASSED]
        self._write(self._style(summary.line, colour))


def root_causes(results: Sequence[CaseResult]) -> list[str]:
    """One line per requirement broken, with the cases it failed: one early violation
    (say, a wrong root P) fails many later cases, and the author should fix that first."""
    by_requirement: dict[str, list[str]] = {}
    for result in results:
        if result.verdict == FAILED:
            by_requirement.setdefault(result.violated or "checker", []).append(result.case.id)
    return [f"broken: {requirement} in {len(ids)} case{'' if len(ids) == 1 else 's'} "
            f"({', '.join(ids)})"
            for requirement, ids in sorted(by_requirement.items(), key=lambda kv: -len(kv[1]))]


# ---- JSON -----------------------------------------------------------------


def to_json(config: RunConfig, results: Sequence[CaseResult]) -> str:
    summary = Summary.of(results)
    document = {
        "tool": "zeus-fsm check",
        "dialect": config.dialect,
        "command": list(config.command),
        "timeout": config.timeout,
        "strict": config.strict,
        "summary": {"passed": summary.passed, "failed": summary.failed,
                    "skipped": summary.skipped, "warnings": summary.warnings,
                    "line": summary.line},
        "cases": [{
            "id": r.case.id,
            "section": r.case.section,
            "section_title": r.case.section_title,
            "title": r.case.title,
            "requirement": r.case.requirement,
            "level": r.case.level,
            "verdict": r.verdict,
            "violated_requirement": r.violated,
            "expected": r.expected,
            "actual": r.actual,
            "sentence": r.sentence,
            "slave_stderr": list(r.stderr_tail),
            "seconds": round(r.seconds, 4),
            "processes_ended": r.processes_ended,
            "processes_outside_group": r.outside_group,
            "survivors": list(r.survivors),
        } for r in results],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# ---- JUnit XML --------------------------------------------------------------

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    """XML 1.0 cannot hold most control characters: show them escaped instead."""
    return _NOT_XML.sub(lambda m: repr(m.group())[1:-1], text)


def _details(result: CaseResult) -> str:
    lines = [f"Expected: {result.expected}", f"Actual:   {result.actual}"]
    if result.sentence:
        lines.append(result.sentence)
    lines += [f"slave stderr| {line}" for line in result.stderr_tail]
    return _xml_text("\n".join(lines))


def to_junit(config: RunConfig, results: Sequence[CaseResult]) -> str:
    """One <testsuite> per section; a <testcase> per case; <failure> / <skipped> inside."""
    root = ET.Element("testsuites", name=f"zeus-fsm check ({config.dialect})")
    by_section: dict[str, list[CaseResult]] = {}
    for result in results:
        by_section.setdefault(result.case.section, []).append(result)
    for section, members in by_section.items():
        summary = Summary.of(members)
        suite = ET.SubElement(root, "testsuite", {
            "name": section_heading(section), "tests": str(len(members)),
            "failures": str(summary.failed), "errors": "0", "skipped": str(summary.skipped),
            "time": f"{sum(r.seconds for r in members):.3f}"})
        for result in members:
            case = result.case
            element = ET.SubElement(suite, "testcase", {
                "name": _xml_text(case_line(case)),
                "classname": f"zeus_fsm.check.{config.dialect}.section{section}",
                "time": f"{result.seconds:.3f}"})
            if result.verdict == FAILED:
                failure = ET.SubElement(element, "failure", {
                    "message": _xml_text(f"{result.violated or 'checker'}: {result.actual}"),
                    "type": result.violated or "checker-error"})
                failure.text = _details(result)
            elif result.verdict == SKIPPED:
                ET.SubElement(element, "skipped", message=_xml_text(result.actual or ""))
            elif result.verdict == WARNING:  # passed at MUST level; the SHOULD miss stays visible
                out = ET.SubElement(element, "system-out")
                out.text = "WARNING (SHOULD, not failed without --strict)\n" + _details(result)
    totals = Summary.of(results)
    root.set("tests", str(len(results)))
    root.set("failures", str(totals.failed))
    root.set("skipped", str(totals.skipped))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


# ---- the case list -------------------------------------------------------------


def case_list(cases: Iterable[Case]) -> list[str]:
    lines: list[str] = []
    section = None
    for case in cases:
        if case.section != section:
            section = case.section
            lines += [""] if lines else []
            lines.append(section_heading(section))
        lines.append(f"  {case_line(case)}")
    return lines


def markdown_table(cases: Iterable[Case] = CASES) -> str:
    """Every case of the catalogue, all dialects: the table in spec/CONFORMANCE.md."""
    rows = ["| Case | Requirement | Level | Dialects | Needs | Title |",
            "|---|---|---|---|---|---|"]
    for case in cases:
        dialects = "both" if len(case.dialects) > 1 else next(iter(case.dialects))
        needs = ", ".join(f"`--id-{n}`" for n in case.needs) or "-"
        rows.append(f"| {case.id} | {case.requirement} | {case.level} | {dialects} | "
                    f"{needs} | {case.title} |")
    return "\n".join(rows) + "\n"
