"""Whether a live workload already runs a spec (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_hfinfer.spec.names import SPEC_HASH_ANNOTATION, annotations_of, object_ref


def unchanged(
    live: Mapping[str, Mapping[str, Any]], manifests: Sequence[Mapping[str, Any]]
) -> bool:
    """Whether every manifest already exists with the same ``hfinfer.io/spec-hash``.

    Args:
        live: Live objects by ``Kind/name`` (what an ownership check read).
        manifests: The rendered manifests of the new spec.

    Returns:
        True when applying would change nothing this provider renders.
    """
    if not manifests:
        return False
    for manifest in manifests:
        current = live.get(object_ref(manifest))
        wanted = annotations_of(manifest).get(SPEC_HASH_ANNOTATION)
        if (
            current is None
            or not wanted
            or annotations_of(current).get(SPEC_HASH_ANNOTATION) != wanted
        ):
            return False
        # The spec hash leaves token values out (it is stored in an annotation), so a
        # rotated token shows only in the Secret's data: compare that too.
        if manifest.get("kind") == "Secret" and not _same_secret_data(current, manifest):
            return False
    return True


def _same_secret_data(live: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether the live Secret holds every key of the rendered one with the same value."""
    have, want = live.get("data"), wanted.get("data")
    if not isinstance(want, Mapping):
        return True
    if not isinstance(have, Mapping):
        return not want
    return all(have.get(key) == value for key, value in want.items())
