"""Workload dicts shared by the spec tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_WORKLOAD = REPO_ROOT / "examples" / "workload.yaml"

TOKEN = "hf_sPeCtEsTtOkEn9876543210qwertyZ"
"""A token that appears nowhere else, so a substring scan finds any leak."""

BASE: dict[str, Any] = {"name": "llama3-8b-chat", "model": "meta-llama/Llama-3.1-8B-Instruct"}

AUTOSCALED: dict[str, Any] = {
    "replicas": {"min": 1, "max": 4},
    "autoscaling": {"metric": "concurrency", "threshold": 8},
}

SCALE_TO_ZERO: dict[str, Any] = {
    **AUTOSCALED,
    "scale_to_zero": {"idle_seconds": "10m"},
}


def workload(*layers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Return BASE with each layer and then ``fields`` merged in (top-level keys replaced)."""
    data = copy.deepcopy(BASE)
    for layer in layers:
        data.update(copy.deepcopy(layer))
    data.update(copy.deepcopy(fields))
    return data
