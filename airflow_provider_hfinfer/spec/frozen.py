"""A read-only string mapping for the frozen spec's ``labels`` and ``annotations``.

This module owns :class:`FrozenMap`. A frozen pydantic model only stops
attribute assignment; a plain ``dict`` field could still be changed in place
(``workload.labels["x"] = "y"``), silently changing a "frozen" spec, its
equality and its spec hash. ``FrozenMap`` has no mutating methods, is hashable,
pickles and deep-copies (Airflow copies operators holding a spec), accepts any
mapping as input, and serializes to a plain ``dict`` (``model_dump``, JSON,
JSON Schema ``object`` of strings).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema


class FrozenMap(Mapping[str, str]):
    """An immutable, hashable mapping of strings to strings.

    It compares equal to any mapping with the same items, so
    ``workload.labels == {"team": "ml"}`` holds; ``dict(frozen)`` gives a plain,
    mutable copy.

    Args:
        items: The entries, as a mapping (default: empty).
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items: dict[str, str] = dict(items or {})

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._items == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"

    def __reduce__(self) -> tuple[type[FrozenMap], tuple[dict[str, str]]]:
        return (FrozenMap, (dict(self._items),))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        # Validate (and describe in JSON Schema) as dict[str, str], then freeze;
        # serialize back to a plain dict so manifests and dumps stay JSON-able.
        plain = handler.generate_schema(dict[str, str])
        return core_schema.no_info_after_validator_function(
            cls,
            plain,
            serialization=core_schema.plain_serializer_function_ser_schema(
                dict, return_schema=plain
            ),
        )
