"""What the suite measured, printed at the end of the session (pytest_terminal_summary).

The figures are the point of a scale run, so every test adds a few lines here instead of
printing them where `-q` would hide them.
"""

from __future__ import annotations

from typing import Any

REPORT: dict[str, list[str]] = {}


def report(section: str, line: str) -> None:
    REPORT.setdefault(section, []).append(line)


def write_report(terminalreporter: Any) -> None:
    if not REPORT:
        return
    terminalreporter.section("GMBot scale report")
    for section, lines in REPORT.items():
        terminalreporter.write_line(f"[{section}]")
        for line in lines:
            terminalreporter.write_line(f"  {line}")
