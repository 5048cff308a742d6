"""The per-scenario report: printed at the end of the session and written to
build/faults-report.md.

Every scenario files its figures before its assertions run, so a failing scenario is
reported with the same figures as a passing one, plus what failed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPORT_PATH = Path(__file__).resolve().parents[2] / "build" / "faults-report.md"


@dataclass
class ScenarioReport:
    name: str
    fault: str  # what was injected, in words
    updates: int = 0  # sent by the emulator for this scenario
    attempts: int = 0  # webhook delivery attempts for them
    attempts_by_outcome: Counter[str] = field(default_factory=Counter)
    calls: dict[str, Counter[str]] = field(default_factory=dict)  # method -> ok / failed (status)
    calls_by_instance: Counter[str] = field(default_factory=Counter)
    gated: int = 0  # gated messages posted (strangers, before joining)
    refused_posts: int = 0  # strangers' posts Telegram refused (already muted)
    recovery: float | None = None  # seconds from the fault's end to the last expected action
    drained: float | None = None  # seconds from the fault's end to nothing pending
    duration: float = 0.0
    rss: dict[str, tuple[int | None, int | None, bool]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    outcome: str = "not run"

    def count_call(self, method: str, ok: bool, status: int) -> None:
        self.calls.setdefault(method, Counter())["ok" if ok else f"failed {status}"] += 1

    def lines(self) -> list[str]:
        out = [f"fault: {self.fault}"]
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(self.attempts_by_outcome.items()))
        out.append(
            f"updates: {self.updates}, delivery attempts: {self.attempts} ({outcomes}); "
            f"gated messages: {self.gated}, strangers' posts refused (muted): "
            f"{self.refused_posts}"
        )
        actions = "; ".join(
            f"{method} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            for method, counts in sorted(self.calls.items())
        )
        out.append(f"Bot API calls by method: {actions or 'none'}")
        out.append(
            "calls by instance: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.calls_by_instance.items()))
        )
        out.append(
            f"recovery (fault end -> last expected action): {_seconds(self.recovery)}; "
            f"drained (fault end -> nothing pending): {_seconds(self.drained)}; "
            f"scenario took {self.duration:.1f}s"
        )
        rss = ", ".join(
            f"{iid} {_mib(before)} -> {_mib(after)}{'' if same else ' (new process)'}"
            for iid, (before, after, same) in sorted(self.rss.items())
        )
        out.append(f"RSS before -> after: {rss}")
        out.extend(f"note: {n}" for n in self.notes)
        out.extend(f"FAILED: {f}" for f in self.failures)
        return out


def _seconds(value: float | None) -> str:
    return "n/a (not reached)" if value is None else f"{value:.1f}s"


def _mib(kib: int | None) -> str:
    return "?" if kib is None else f"{kib / 1024:.1f} MiB"


REPORTS: list[ScenarioReport] = []
SESSION: list[str] = []  # lines about the whole session (startup, timings)


def file_report(report: ScenarioReport) -> ScenarioReport:
    REPORTS.append(report)
    return report


def note(line: str) -> None:
    SESSION.append(line)


def write_report(terminalreporter: Any) -> None:
    if not REPORTS and not SESSION:
        return
    terminalreporter.section("GMBot fault report")
    for line in SESSION:
        terminalreporter.write_line(line)
    for r in REPORTS:
        terminalreporter.write_line(f"[{r.name}] {r.outcome}")
        for line in r.lines():
            terminalreporter.write_line(f"  {line}")
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(markdown())
    terminalreporter.write_line(f"written to {REPORT_PATH}")


def markdown() -> str:
    parts = ["# GMBot fault suite report", ""]
    parts += [f"- {line}" for line in SESSION]
    for r in REPORTS:
        parts += ["", f"## {r.name}: {r.outcome}", ""]
        parts += [f"- {line}" for line in r.lines()]
    return "\n".join(parts) + "\n"
