"""The spec records a Deployment carries: the way back for rollouts and rollbacks.

This module owns the format of ``hfinfer.io/applied-spec`` (the redacted spec
an apply came from: the next rollout's rollback target) and
``hfinfer.io/previous-spec`` (the redacted spec a rollout replaced, so a task
resuming after a deferral still finds its way back): writing them (the renderer
puts them on the Deployment when its context asks for them) and reading them
back from a live Deployment. Secrets are masked in both; never render a Secret
from a spec read back here. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.names import (
    APPLIED_SPEC_ANNOTATION,
    PREVIOUS_SPEC_ANNOTATION,
    annotations_of,
)


def spec_record(workload: InferenceWorkload) -> str:
    """The spec as compact JSON with every secret masked (safe for an annotation)."""
    return json.dumps(workload.redacted(), sort_keys=True, separators=(",", ":"))


def spec_from_record(raw: object) -> InferenceWorkload | None:
    """Parse a spec recorded by :func:`spec_record`; None when absent or unreadable.

    Secrets come back masked: never render a Secret from the result.
    """
    if not isinstance(raw, str):
        return None
    try:
        return InferenceWorkload.model_validate(json.loads(raw))
    except ValueError:
        # pydantic.ValidationError and json.JSONDecodeError: no record, not a crash.
        return None


def recorded_spec(deployment: Mapping[str, Any] | None) -> InferenceWorkload | None:
    """The spec a live Deployment was applied from; None when not recorded or unreadable.

    Secrets come back masked: never render a Secret from the result.
    """
    if not deployment:
        return None
    return spec_from_record(annotations_of(deployment).get(APPLIED_SPEC_ANNOTATION))


def recorded_previous_spec(deployment: Mapping[str, Any] | None) -> InferenceWorkload | None:
    """The spec a live Deployment ran before its last rollout; None when not recorded.

    Secrets come back masked: never render a Secret from the result.
    """
    if not deployment:
        return None
    return spec_from_record(annotations_of(deployment).get(PREVIOUS_SPEC_ANNOTATION))
