"""Runs the selected cases, one fresh slave each, and turns each outcome into a verdict.

Verdicts: `passed`; `failed`; `skipped` (the case could not judge this slave);
`warning`: a SHOULD-level requirement did not hold and --strict is off. A
warning is counted with the passed cases (the slave conforms at MUST level)
but is never hidden: reports show it with its Expected/Actual like a failure.
The level that counts is the level of the requirement actually broken, not the
case's: a SHOULD case that trips over a MUST violation fails.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Iterable

import attrs

from zeus_fsm.conformance.cases import Case, CaseContext, PlanIds, Skipped
from zeus_fsm.conformance.driver import Judge, SlaveStartError, Violation
from zeus_fsm.protocol.dialects import get_dialect
from zeus_fsm.protocol.errors import ProtocolError, Role
from zeus_fsm.protocol.requirements import BY_ID

PASSED, FAILED, WARNING, SKIPPED = "passed", "failed", "warning", "skipped"

__all__ = ["FAILED", "PASSED", "SKIPPED", "WARNING", "CaseResult", "RunConfig",
           "SlaveStartError", "Summary", "run", "run_case"]


@attrs.frozen
class RunConfig:
    command: tuple[str, ...]
    dialect: str
    timeout: float
    ids: PlanIds = attrs.Factory(PlanIds)
    strict: bool = False


@attrs.frozen
class CaseResult:
    case: Case
    verdict: str
    seconds: float
    #: The requirement the slave broke (None when it passed or was skipped).
    violated: str | None = None
    expected: str | None = None
    actual: str | None = None
    #: The last lines the slave wrote to stderr, for failures and warnings.
    stderr_tail: tuple[str, ...] = ()
    #: The slave's processes the case ended at its close, how many of them had left the
    #: root's process group, and any still alive after (none, or a checker bug).
    processes_ended: int = 0
    outside_group: int = 0
    survivors: tuple[int, ...] = ()

    @property
    def sentence(self) -> str | None:
        """The MUST/SHOULD sentence of the broken requirement."""
        if self.violated is None or self.violated not in BY_ID:
            return None
        rule = BY_ID[self.violated]
        return f"{rule.id} ({rule.level}): {rule.text}"


@attrs.frozen
class Summary:
    passed: int
    failed: int
    skipped: int
    warnings: int

    @classmethod
    def of(cls, results: Iterable[CaseResult]) -> Summary:
        verdicts = [r.verdict for r in results]
        return cls(passed=verdicts.count(PASSED) + verdicts.count(WARNING),
                   failed=verdicts.count(FAILED), skipped=verdicts.count(SKIPPED),
                   warnings=verdicts.count(WARNING))

    @property
    def line(self) -> str:
        """`N passed, M failed` and, when some were skipped, `, K skipped`."""
        text = f"{self.passed} passed, {self.failed} failed"
        return text + (f", {self.skipped} skipped" if self.skipped else "")


def _disabled(case: Case, ids: PlanIds) -> list[str]:
    return [role for role in case.needs if not ids.get(role)]


def run_case(case: Case, config: RunConfig) -> CaseResult:
    """Run one case against a fresh slave; SlaveStartError propagates (the run must stop)."""
    started = time.monotonic()
    disabled = _disabled(case, config.ids)
    if disabled:
        return CaseResult(case, SKIPPED, 0.0,
                          actual="no plan identifier given for --id-" + ", --id-".join(disabled))
    judge = Judge(config.command, get_dialect(config.dialect), config.timeout)
    violated = expected = actual = None
    verdict = PASSED
    try:
        with judge:
            try:
                case.run(CaseContext(judge, config.ids))
            except Skipped as skip:
                verdict, actual = SKIPPED, str(skip)
            except Violation as violation:
                violated, expected, actual = (violation.requirement, violation.expected,
                                              violation.actual)
            except ProtocolError as error:
                violated, expected, actual = error.requirement, judge.expecting, error.describe()
                if error.culprit is Role.MASTER:  # the checker broke a rule: its own bug
                    violated, actual = None, f"checker error (please report): {actual}"
                    verdict = FAILED
            except SlaveStartError:
                raise
            except Exception as error:  # a bug in the checker must not pass a slave
                verdict, expected = FAILED, judge.expecting
                actual = f"checker error (please report): {type(error).__name__}: {error}"
            tail = tuple(judge.stderr_tail()) if (violated or verdict == FAILED) else ()
    finally:
        seconds = time.monotonic() - started
    if violated is not None:
        level = BY_ID[violated].level if violated in BY_ID else "MUST"
        verdict = WARNING if level == "SHOULD" and not config.strict else FAILED
    sweep = judge.sweep
    return CaseResult(case, verdict, seconds, violated, expected, actual, tail,
                      sweep.ended if sweep else 0, sweep.outside_group if sweep else 0,
                      sweep.survivors if sweep else ())


def run(cases: Iterable[Case], config: RunConfig,
        on_result: Callable[[CaseResult], None] | None = None, jobs: int = 1,
        ) -> list[CaseResult]:
    """Run cases, `jobs` at a time (each has its own slave and fds, so they cannot interfere);
    `on_result` sees the results in catalogue order as soon as each is known."""
    results: list[CaseResult] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run_case, case, config) for case in cases]
        try:
            for future in futures:
                result = future.result()  # SlaveStartError surfaces here and stops the run
                results.append(result)
                if on_result is not None:
                    on_result(result)
        finally:
            for future in futures:
                future.cancel()
    return results
