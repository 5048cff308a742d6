"""requirements/*.txt, the hash-checked locks that `make install` and the image install from.

Re-locking needs the lock tool and the index (`make lock`); these checks need neither. They
catch a pyproject.toml edited without re-locking, and locks that drifted apart.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.helpers import REPO

RUNTIME_LOCK = REPO / "requirements" / "runtime.txt"
DEV_LOCK = REPO / "requirements" / "dev.txt"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@dataclass
class Pin:
    version: str
    hashes: list[str] = field(default_factory=list)


def read_lock(path: Path) -> dict[str, Pin]:
    """Canonical name -> pin; every requirement line must be `name==version`."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("--hash="):
            assert current is not None, f"{path.name}: a hash before any requirement"
            assert _HASH.fullmatch(stripped.rstrip(" \\")), stripped
            current.hashes.append(stripped)
            continue
        match = _PIN.match(stripped)
        assert match, f"{path.name}: not an exact pin: {stripped}"
        current = Pin(match["version"])
        pins[canonicalize_name(match["name"])] = current
    return pins


def _requirements(specs: list[str]) -> list[Requirement]:
    return [Requirement(spec) for spec in specs]


RUNTIME = _requirements(PYPROJECT["project"]["dependencies"])
DEV = _requirements(PYPROJECT["project"]["optional-dependencies"]["dev"])
BUILD = _requirements(PYPROJECT["build-system"]["requires"])


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=lambda p: p.name)
def test_every_pin_is_exact_and_hashed(lock: Path) -> None:
    pins = read_lock(lock)
    assert pins
    unhashed = [name for name, pin in pins.items() if not pin.hashes]
    assert not unhashed, f"{lock.name}: pins without a hash: {unhashed}"


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [(RUNTIME_LOCK, RUNTIME + BUILD), (DEV_LOCK, RUNTIME + DEV + BUILD)],
    ids=["runtime", "dev"],
)
def test_the_lock_satisfies_pyproject(lock: Path, requirements: list[Requirement]) -> None:
    pins = read_lock(lock)
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock.name} lacks {requirement}: run `make lock UPGRADE=`"
        version = pins[name].version
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock.name} pins {name}=={version}, pyproject.toml wants {requirement}: "
            "run `make lock UPGRADE=`"
        )


def test_the_image_runs_what_the_tests_ran() -> None:
    runtime, dev = read_lock(RUNTIME_LOCK), read_lock(DEV_LOCK)
    differ = {
        name: (pin.version, dev[name].version if name in dev else None)
        for name, pin in runtime.items()
        if name not in dev or dev[name].version != pin.version
    }
    assert not differ, f"runtime and dev locks disagree (runtime, dev): {differ}"
