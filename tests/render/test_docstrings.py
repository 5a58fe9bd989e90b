"""Every public class of the renderer documents every field it takes."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from pydantic import BaseModel

import airflow_provider_hfinfer.render as render_package
from tests.test_docstrings import documented_names


def _public_classes() -> list[type]:
    found: list[type] = []
    for info in pkgutil.iter_modules(render_package.__path__, f"{render_package.__name__}."):
        module = importlib.import_module(info.name)
        found += [
            value
            for name, value in vars(module).items()
            if inspect.isclass(value)
            and value.__module__ == module.__name__
            and not name.startswith("_")
        ]
    return found


def _undocumented(cls: type) -> list[str]:
    if issubclass(cls, BaseModel):
        names = list(cls.model_fields)
    else:
        names = [name for name in inspect.signature(cls).parameters if name != "self"]
    documented = documented_names(inspect.getdoc(cls))
    return [name for name in names if name not in documented]


CLASSES = _public_classes()


def test_render_options_is_among_the_checked_classes() -> None:
    assert "RenderOptions" in {cls.__name__ for cls in CLASSES}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_field_is_documented(cls: type) -> None:
    missing = _undocumented(cls)
    assert missing == [], f"{cls.__name__}: document {missing} in an Args: or Attributes: section"
