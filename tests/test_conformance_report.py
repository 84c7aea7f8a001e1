"""The text report's root-cause lines: one early violation that fails many cases is named once."""

from __future__ import annotations

from zeus_fsm.conformance.cases import CASES
from zeus_fsm.conformance.report import root_causes
from zeus_fsm.conformance.runner import FAILED, PASSED, CaseResult


def test_failures_are_grouped_by_the_requirement_actually_broken() -> None:
    first, second, third, fourth = CASES[:4]
    results = [
        CaseResult(first, FAILED, 0.1, violated="PID-5"),
        CaseResult(second, PASSED, 0.1),
        CaseResult(third, FAILED, 0.1, violated="FILES-1"),
        CaseResult(fourth, FAILED, 0.1, violated="PID-5"),
    ]
    assert root_causes(results) == [
        f"broken: PID-5 in 2 cases ({first.id}, {fourth.id})",
        f"broken: FILES-1 in 1 case ({third.id})",
    ]


def test_a_clean_run_names_no_cause() -> None:
    assert root_causes([CaseResult(case, PASSED, 0.1) for case in CASES[:3]]) == []


def test_a_surviving_process_is_said_above_the_summary_and_counted_in_json() -> None:
    import json

    from zeus_fsm.conformance.report import TextReport, to_json
    from zeus_fsm.conformance.runner import RunConfig

    first, second = CASES[:2]
    results = [CaseResult(first, PASSED, 0.1, processes_ended=3, outside_group=2),
               CaseResult(second, PASSED, 0.1, processes_ended=1, survivors=(4242,))]
    lines: list[str] = []
    TextReport(lines.append).finish(results)
    assert lines[-1] == "2 passed, 0 failed"  # the summary stays the last line, exactly
    assert any("survived their case" in line and f"{second.id}: 4242" in line
               for line in lines)
    cases = json.loads(to_json(RunConfig(("slave",), "zeus", 5.0), results))["cases"]
    assert [(c["processes_ended"], c["processes_outside_group"], c["survivors"])
            for c in cases] == [(3, 2, []), (1, 0, [4242])]
