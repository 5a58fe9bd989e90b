"""Every public class of the spec documents every field it takes."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from pydantic import BaseModel

import airflow_provider_hfinfer.spec as spec_package
from tests.test_docstrings import documented_names


def public_classes(package_name: str) -> list[type]:
    """Classes defined (not imported) in the package's modules, without a leading '_'."""
    package = importlib.import_module(package_name)
    found: list[type] = []
    for info in pkgutil.iter_modules(package.__path__, f"{package_name}."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == module.__name__:
                if not name.startswith("_"):
                    found.append(value)
    return found


def undocumented(cls: type) -> list[str]:
    """Fields (models) or constructor parameters (other classes) the docstring leaves out."""
    if issubclass(cls, BaseModel):
        names = list(cls.model_fields)
    else:
        names = [name for name in inspect.signature(cls).parameters if name != "self"]
    documented = documented_names(inspect.getdoc(cls))
    return [name for name in names if name not in documented]


CLASSES = public_classes(spec_package.__name__)


def test_the_spec_has_the_classes_this_test_is_meant_to_check() -> None:
    names = {cls.__name__ for cls in CLASSES}
    assert {"NoHFAccess", "TokenHFAccess", "InferenceWorkload", "FrozenMap", "Compute"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_field_is_documented(cls: type) -> None:
    missing = undocumented(cls)
    assert missing == [], f"{cls.__name__}: document {missing} in an Args: or Attributes: section"
