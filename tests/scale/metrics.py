"""Reading an instance's /metrics (Prometheus text format)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import aiohttp

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass
class Samples:
    rows: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def total(self, name: str, **labels: str) -> float:
        return sum(
            value
            for metric, have, value in self.rows
            if metric == name and all(have.get(k) == v for k, v in labels.items())
        )


def handled(samples: Samples) -> float:
    """Updates an instance handled: bot_updates_total (a duplicate it only acknowledged
    is counted in bot_duplicate_updates_total instead, on both paths)."""
    return samples.total("bot_updates_total")


def parse_metrics(text: str) -> Samples:
    samples = Samples()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match:
            labels = dict(_LABEL.findall(match.group(2) or ""))
            samples.rows.append((match.group(1), labels, float(match.group(3))))
    return samples


async def scrape(session: aiohttp.ClientSession, base_url: str) -> Samples:
    async with session.get(base_url + "/metrics", timeout=aiohttp.ClientTimeout(total=5)) as r:
        r.raise_for_status()
        return parse_metrics(await r.text())
