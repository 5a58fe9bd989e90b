"""The README is the user guide: every failure reason and every example DAG is in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from airflow_fixtures import airflow_db  # noqa: F401

from airflow_provider_hfinfer.status.model import Reason

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 3)
    return README[start : end if end != -1 else None]


def _reasons_in_first_column(section: str) -> set[str]:
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            names.update(re.findall(r"`([A-Za-z]+)`", first))
    return names


def test_troubleshooting_explains_every_reason_the_status_model_reports() -> None:
    documented = _reasons_in_first_column(_section("Troubleshooting"))
    reported = {reason.value for reason in Reason} | {"Timeout"}
    assert sorted(reported - documented) == []


def test_troubleshooting_explains_every_reason_the_request_operator_raises() -> None:
    source = (REPO / "airflow_provider_hfinfer" / "serving" / "completions.py").read_text()
    source += (REPO / "airflow_provider_hfinfer" / "operators" / "request.py").read_text()
    raised = set(re.findall(r'reason="([A-Za-z]+)"', source)) - {"Cancelled"}  # internal
    assert raised, "no reasons found: the pattern no longer matches the code"
    assert sorted(raised - _reasons_in_first_column(_section("Troubleshooting"))) == []


def test_every_example_dag_is_described() -> None:
    section = _section("Example DAGs")
    for path in sorted((REPO / "dags").glob("*.py")):
        assert f"`{path.stem}`" in section, path.name


def _bash_commands() -> list[str]:
    """Each command of the README's bash blocks (continuations joined, comments cut)."""
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        joined = re.sub(r"'\{[^']*\}'", lambda m: m.group(0).replace("\n", " "), joined)
        for line in joined.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


# Commands another test runs as written: the test that does.
RUN_ELSEWHERE = {
    "make demo": "tests/dags/test_make_demo.py",
    "make demo HFINFER_KUBECONFIG=": "tests/dags/test_make_demo.py (fake cluster kubeconfig)",
    "make demo-clean HFINFER_KUBECONFIG=": "tests/dags/test_make_demo.py",
    "make test": "CI (.ci/run)",
    "export AIRFLOW": "tests/dags/test_real_airflow.py (same settings, components one by one)",
    ".venv/bin/airflow standalone": "tests/dags/test_real_airflow.py",
    "pip install": "the package's own install (make install)",
}


def test_every_readme_command_is_run_by_a_test(
    airflow_db: None,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import os
    import shlex
    import socket
    import subprocess
    import sys

    from airflow_provider_hfinfer.cli import main

    with socket.socket() as sock:  # `hfinfer check` offline: a loopback port nobody serves
        sock.bind(("127.0.0.1", 0))
        closed_hub = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for key, value in {
        "HF_TOKEN": "hf_readme",
        "ENDPOINT_JWT": "jwt",
        "HF_ENDPOINT": closed_hub,
    }.items():
        monkeypatch.setenv(key, value)
    env = dict(os.environ)
    unknown = []
    for command in _bash_commands():
        if command.startswith(".venv/bin/hfinfer "):
            with open(os.devnull, "w") as sink:
                assert main(shlex.split(command)[1:], out=sink) == 0, command
        elif command.startswith("airflow "):
            args = shlex.split(os.path.expandvars(command.split(" | ")[0]))[1:]
            done = subprocess.run(
                [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, f"{command}\n{done.stderr[-2000:]}"
            if " | grep hfinfer" in command:
                assert "hfinfer" in done.stdout
        elif not any(command.startswith(prefix) for prefix in RUN_ELSEWHERE):
            unknown.append(command)
    capsys.readouterr()
    assert unknown == [], "README commands no test runs"
