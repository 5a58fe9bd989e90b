"""Packaging: provider metadata, entry point, and cheap imports for DAG parsing."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from airflow_provider_hfinfer import PACKAGE_NAME, get_provider_info


def test_provider_info_validates_against_airflow_schema() -> None:
    import airflow
    import jsonschema

    schema_path = Path(airflow.__file__).parent / "provider_info.schema.json"
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(get_provider_info(), schema)
    assert get_provider_info()["package-name"] == PACKAGE_NAME == "airflow-provider-hfinfer"


def _public_classes(base: type) -> set[str]:
    """Dotted paths of the package's public subclasses of ``base``."""
    import importlib
    import inspect
    import pkgutil

    import airflow_provider_hfinfer as package

    found = set()
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, base)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found.add(f"{module.__name__}.{name}")
    return found


@pytest.mark.parametrize(
    ("section", "base"),
    [
        ("operators", "airflow.sdk.BaseOperator"),
        ("sensors", "airflow.sdk.BaseSensorOperator"),
        ("hooks", "airflow.sdk.BaseHook"),
        ("triggers", "airflow.triggers.base.BaseTrigger"),
    ],
)
def test_provider_info_lists_every_module_with_an_operator_sensor_hook_or_trigger(
    section: str, base: str
) -> None:
    import importlib

    module_name, _, class_name = base.rpartition(".")
    base_class = getattr(importlib.import_module(module_name), class_name)
    classes = _public_classes(base_class)
    if section == "operators":  # sensors are operators too, listed on their own
        from airflow.sdk import BaseSensorOperator

        classes -= _public_classes(BaseSensorOperator)
    [entry] = get_provider_info()[section]
    assert entry["integration-name"] == get_provider_info()["integrations"][0]["integration-name"]
    listed = set(entry["python-modules"])
    assert classes, f"no {section} found"
    assert {path.rpartition(".")[0] for path in classes} == listed


def test_entry_point_is_registered() -> None:
    points = entry_points(group="apache_airflow_provider")
    ours = [point for point in points if point.value.startswith("airflow_provider_hfinfer")]
    assert len(ours) == 1
    assert ours[0].load()() == get_provider_info()


def test_airflow_provider_manager_lists_us() -> None:
    from airflow.providers_manager import ProvidersManager

    assert PACKAGE_NAME in ProvidersManager().providers


@pytest.mark.parametrize(
    "module",
    [
        "airflow_provider_hfinfer.spec",
        "airflow_provider_hfinfer.render",
        "airflow_provider_hfinfer.deploy.describe",
    ],
)
def test_pure_layers_import_neither_kubernetes_nor_airflow(module: str) -> None:
    code = (
        f"import sys, json; import {module}; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('kubernetes', 'airflow', 'kubernetes_asyncio', 'huggingface_hub'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_py_typed_is_shipped() -> None:
    import airflow_provider_hfinfer

    assert (Path(airflow_provider_hfinfer.__file__).parent / "py.typed").exists()
