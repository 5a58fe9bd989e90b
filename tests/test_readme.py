"""The README is the user guide: every failure reason and every example DAG is in it."""

from __future__ import annotations

import re
from pathlib import Path

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
