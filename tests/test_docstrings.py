"""Docstring coverage: public classes document their parameters, public modules their purpose.

A parameter counts as documented when a class docstring has an entry for it
with a non-empty description, either Sphinx style (``:param NAME: text``) or
as a ``NAME: text`` / ``NAME (type): text`` entry of a Google ``Args:``,
``Keyword Args:`` or ``Attributes:`` section. Prose that merely mentions
``name:`` does not count.

Inheritance rule: a parameter may be documented by the class itself or by any
class of this package between it and the class that declares the parameter in
its method resolution order. The declaring class is, for pydantic models and
dataclasses, the nearest class whose own annotations name the field, and for
plain classes and exceptions, the nearest class that defines ``__init__``. So
an exception subclass that keeps its base's ``__init__`` is covered by the
base's ``Args:``, while a subclass that redefines ``__init__`` (or re-declares
a field) must document the parameters itself. Parameters declared outside the
package (e.g. ``BaseOperator.__init__`` inherited unchanged) are not ours to
document and are skipped.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel

import airflow_provider_hfinfer

PACKAGE = airflow_provider_hfinfer.__name__

_SECTION = re.compile(
    r"(?P<indent>\s*)(?:Args|Arguments|Keyword Args|Keyword Arguments|Attributes):\s*"
)
_ENTRY = re.compile(r"(?P<name>\*{0,2}\w+)\s*(?:\([^)]*\))?:(?:\s+(?P<text>.*))?")
_SPHINX_PARAM = re.compile(
    r"(?P<indent>\s*):param\s+(?:[^:]*\s)?(?P<name>\w+):(?:\s+(?P<text>.*))?"
)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _continuation(lines: list[str], start: int, indent: int) -> tuple[str, int]:
    """Return the text of the lines after ``start`` indented past ``indent``, and the next index."""
    parts = []
    index = start + 1
    while index < len(lines) and (not lines[index].strip() or _indent(lines[index]) > indent):
        parts.append(lines[index].strip())
        index += 1
    return " ".join(part for part in parts if part), index


def _google_entries(lines: list[str], header: int, header_indent: int) -> dict[str, str]:
    entries: dict[str, str] = {}
    index = header + 1
    entry_indent: int | None = None
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
            continue
        indent = _indent(line)
        if indent <= header_indent:
            break
        if entry_indent is None:
            entry_indent = indent
        if indent != entry_indent:
            break  # malformed section: stop rather than guess
        match = _ENTRY.fullmatch(line.strip())
        text, index = _continuation(lines, index, entry_indent)
        if match:
            entries[match["name"].lstrip("*")] = f"{match['text'] or ''} {text}".strip()
    return entries


def documented_names(doc: str | None) -> set[str]:
    """Names with a non-empty description in ``doc``'s parameter sections or ``:param:`` lines."""
    if not doc:
        return set()
    lines = inspect.cleandoc(doc).splitlines()
    found: dict[str, str] = {}
    for index, line in enumerate(lines):
        section = _SECTION.fullmatch(line)
        if section:
            found.update(_google_entries(lines, index, len(section["indent"])))
            continue
        param = _SPHINX_PARAM.fullmatch(line)
        if param:
            text, _ = _continuation(lines, index, len(param["indent"]))
            found[param["name"]] = f"{param['text'] or ''} {text}".strip()
    return {name for name, text in found.items() if text}


def _in_package(cls: type, package: str) -> bool:
    return cls.__module__ == package or cls.__module__.startswith(f"{package}.")


def _field_owner(cls: type, name: str) -> type:
    for klass in cls.__mro__:
        if name in inspect.get_annotations(klass):
            return klass
    return cls


def _init_owner(cls: type) -> type:
    return next(klass for klass in cls.__mro__ if "__init__" in vars(klass))


def declared_parameters(cls: type) -> list[tuple[str, type]]:
    """Return each constructor parameter/field of ``cls`` with the class that declares it."""
    if issubclass(cls, enum.Enum):
        return []
    if issubclass(cls, BaseModel):
        return [(name, _field_owner(cls, name)) for name in cls.model_fields]
    owner = _init_owner(cls)
    generated = vars(owner).get("__dataclass_params__")
    # Only when the dataclass decorator wrote the __init__ in use: a plain
    # subclass of a dataclass (Airflow's BaseOperator is one) takes its own.
    if generated is not None and generated.init:
        return [
            (item.name, _field_owner(cls, item.name))
            for item in dataclasses.fields(cls)
            if item.init
        ]
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return [(name, cls) for name in cls._fields]
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]  # minus self
    skipped = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [(param.name, owner) for param in parameters if param.kind not in skipped]


def undocumented(cls: type, package: str = PACKAGE) -> list[str]:
    """Return the parameters of ``cls`` that no docstring on the inheritance path documents."""
    missing = []
    for name, owner in declared_parameters(cls):
        if not _in_package(owner, package):
            continue
        path = cls.__mro__[: cls.__mro__.index(owner) + 1]
        if not any(
            name in documented_names(vars(klass).get("__doc__"))
            for klass in path
            if _in_package(klass, package)
        ):
            missing.append(name)
    return missing


def _modules() -> Iterator[ModuleType]:
    yield airflow_provider_hfinfer
    for info in pkgutil.walk_packages(airflow_provider_hfinfer.__path__, prefix=f"{PACKAGE}."):
        yield importlib.import_module(info.name)


def _where(module: ModuleType) -> str:
    root = Path(airflow_provider_hfinfer.__file__).parent.parent
    return str(Path(module.__file__ or "").relative_to(root))


def _public_classes(module: ModuleType) -> Iterator[type]:
    for name, value in vars(module).items():
        if inspect.isclass(value) and not name.startswith("_"):
            if value.__module__ == module.__name__:
                yield value


def test_every_public_class_documents_its_parameters() -> None:
    problems = []
    checked = 0
    for module in _modules():
        for cls in _public_classes(module):
            checked += 1
            missing = undocumented(cls)
            if missing:
                problems.append(f"{_where(module)}: {cls.__name__}: {', '.join(missing)}")
    assert checked > 50, f"only {checked} classes found: is the package walk broken?"
    if problems:
        pytest.fail(
            "Parameters with no Args:/Attributes:/:param: entry in the class docstring "
            "(or a base class's, when inherited unchanged):\n  " + "\n  ".join(problems),
            pytrace=False,
        )


def lacks_module_docstring(module: ModuleType) -> bool:
    """True for a public module (no ``_``-prefixed part in its name) with a blank docstring."""
    public = not any(part.startswith("_") for part in module.__name__.split("."))
    return public and not (module.__doc__ or "").strip()


def test_every_public_module_has_a_docstring() -> None:
    missing = [_where(module) for module in _modules() if lacks_module_docstring(module)]
    if missing:
        pytest.fail(
            "Public modules without a module docstring:\n  " + "\n  ".join(missing),
            pytrace=False,
        )


# ------------------------------------------------------------- the checker itself


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            "Summary.\n\n    Args:\n        name: The name.\n        size (int): Bytes.\n",
            {"name", "size"},
        ),
        ("Summary.\n\n    Attributes:\n        name:\n            Wrapped text.\n", {"name"}),
        ("Summary.\n\n    :param name: The name.\n    :param int size: Bytes.\n", {"name", "size"}),
        ("Summary mentioning name: in prose, and size: too.\n", set()),
        ("Summary.\n\n    Returns:\n        name: Not a parameter section.\n", set()),
        ("Summary.\n\n    Args:\n        name:\n\n    Other text.\n", set()),
        (
            "Summary.\n\n    Args:\n        name: Kept.\n\n    Raises:\n        size: Gone.\n",
            {"name"},
        ),
        (None, set()),
    ],
)
def test_documented_names_reads_sections_not_prose(doc: str | None, expected: set[str]) -> None:
    assert documented_names(doc) == expected


@dataclasses.dataclass
class _Documented:
    """A documented dataclass.

    Attributes:
        kept: Is documented.
    """

    kept: int
    forgotten: int = 0


@dataclasses.dataclass
class _DataBase:
    """A dataclass base whose fields this test leaves undocumented."""

    hidden: int = 0


class _PlainOnDataBase(_DataBase):
    """A plain class on a dataclass base, with its own constructor.

    Args:
        own: Documented.
    """

    def __init__(self, own: int) -> None:
        super().__init__()


class _Base(Exception):
    """A base error.

    Args:
        message: What went wrong.
        code: The code.
    """

    def __init__(self, message: str, *, code: int = 0, **extra: object) -> None:
        super().__init__(message)


class _Undocumented(Exception):
    """A base error that documents nothing."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class _PassThroughUndocumented(_Undocumented):
    """Keeps an undocumented constructor, so inherits the gap."""


class _PassThrough(_Base):
    """Keeps the base's constructor."""


class _Redefined(_Base):
    """Redefines the constructor; documents none of it."""

    def __init__(self, message: str, *args: object, code: int = 1) -> None:
        super().__init__(message, code=code)


class _Model(BaseModel):
    """A model.

    Attributes:
        a: Documented here.
    """

    a: int = 0
    b: int = 0


class _SubModel(_Model):
    """Adds one field and re-declares one."""

    a: int = 1
    c: int = 0


def test_checker_reports_what_is_missing_and_honours_inheritance() -> None:
    assert undocumented(_Documented, package=__name__) == ["forgotten"]
    assert undocumented(_DataBase, package=__name__) == ["hidden"]
    assert undocumented(_PlainOnDataBase, package=__name__) == []
    assert undocumented(_Base, package=__name__) == []
    assert undocumented(_PassThrough, package=__name__) == []
    assert undocumented(_PassThroughUndocumented, package=__name__) == ["message"]
    assert undocumented(_Redefined, package=__name__) == ["message", "code"]
    assert undocumented(_Model, package=__name__) == ["b"]
    assert undocumented(_SubModel, package=__name__) == ["a", "b", "c"]


def test_module_check_flags_blank_public_modules_only() -> None:
    assert lacks_module_docstring(ModuleType("pkg.blank"))
    assert lacks_module_docstring(ModuleType("pkg.blank", "   "))
    assert not lacks_module_docstring(ModuleType("pkg.owned", "What this module owns."))
    assert not lacks_module_docstring(ModuleType("pkg._private"))
