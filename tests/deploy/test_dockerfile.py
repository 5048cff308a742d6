"""deploy/Dockerfile and .dockerignore, checked statically (no container engine here)."""

from __future__ import annotations

import json
import re

from tests.deploy.helpers import DEPLOY, REPO

DOCKERFILE = DEPLOY / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, "dangling line continuation at the end of the Dockerfile"
    result = []
    for line in lines:
        word, _, rest = line.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instr in _instructions():
        if instr[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instr)
    return stages


def test_multi_stage_with_a_slim_python_311_runtime() -> None:
    instructions = _instructions()
    froms = [args for word, args in instructions if word == "FROM"]
    assert len(froms) >= 2, "the Dockerfile should be multi-stage"
    args = {
        a.split("=", 1)[0]: a.split("=", 1)[1]
        for word, a in instructions
        if word == "ARG" and "=" in a
    }
    final = froms[-1].split()[0]
    final = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), final)
    assert re.fullmatch(r"python:3\.11[\w.-]*-slim[\w.-]*", final), final
    last = _stages()[-1]
    copies = [a for w, a in last if w == "COPY"]
    assert any("--from=builder" in c and "/opt/venv" in c for c in copies), copies


def test_builder_installs_the_package_non_editable() -> None:
    runs = " ".join(a for w, a in _stages()[0] if w == "RUN")
    assert re.search(r"pip install (?:[^;&|]*\s)?\.(?:\s|$)", runs), runs
    assert "-e ." not in runs
    assert "--editable" not in runs


def test_builder_installs_exactly_the_runtime_lock_first() -> None:
    builder = _stages()[0]
    copies = [a for w, a in builder if w == "COPY"]
    runs = [a for w, a in builder if w == "RUN"]
    installs = [cmd.strip() for run in runs for cmd in run.split("&&") if "pip install" in cmd]
    locked = [i for i in installs if "-r requirements/runtime.txt" in i]
    assert locked, installs
    assert all("--require-hashes" in i for i in locked), locked
    # Every other install adds only the package itself: no dependency, no build backend
    # fetched outside the lock.
    for install in installs:
        if install not in locked:
            assert "--no-deps" in install, install
            assert "--no-build-isolation" in install, install
    # The lock is installed before the sources go in, so a source change keeps that layer.
    assert any("requirements/runtime.txt" in c for c in copies), copies
    lock_run = next(i for i, (w, a) in enumerate(builder) if w == "RUN" and "runtime.txt" in a)
    src_copy = next(i for i, (w, a) in enumerate(builder) if w == "COPY" and a.startswith("src"))
    assert lock_run < src_copy, builder


def test_runs_as_a_non_root_user() -> None:
    users = [a for w, a in _stages()[-1] if w == "USER"]
    assert users, "the runtime stage needs a USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, users[-1]


def test_healthcheck_hits_health_without_curl() -> None:
    checks = [a for w, a in _instructions() if w == "HEALTHCHECK"]
    assert len(checks) == 1
    check = checks[0]
    assert "/health" in check
    assert "urllib" in check
    assert "curl" not in check
    assert "wget" not in check
    exec_form = check[check.index("CMD") + 3 :].strip()
    argv = json.loads(exec_form)  # exec form: valid JSON array
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "<healthcheck>", "exec")  # the one-liner is valid Python


def test_entrypoint_port_and_no_remote_add() -> None:
    instructions = _instructions()
    assert ("EXPOSE", "8443") in instructions
    entry = [a for w, a in instructions if w == "ENTRYPOINT"]
    cmd = [a for w, a in instructions if w == "CMD"]
    assert [json.loads(e) for e in entry] == [["gmbot"]]
    assert json.loads(cmd[-1]) == ["run"]
    for word, args in instructions:
        if word == "ADD":
            assert not re.search(r"\b(https?|git)://", args), f"remote ADD: {args}"


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in (".git", ".venv", "*.db", ".env", ".mypy_cache", ".ruff_cache"):
        assert needed in patterns, needed
    assert any("__pycache__" in p for p in patterns)
    # What the build copies must not be ignored.
    for used in ("src", "pyproject.toml", "README.md", "requirements", "requirements/runtime.txt"):
        assert used not in patterns
