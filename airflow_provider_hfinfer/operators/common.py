"""Small helpers every deploy pipeline shares, whichever backend it runs on.

This module owns :func:`task_identity` (who applies a workload: the value of
``hfinfer.io/owner``) and :func:`spec_error` (a validation failure as the
provider's one-line-per-problem spec error). They live apart from
:mod:`.base` so that the runai pipeline (:mod:`.runai_deploy`) uses them
without importing the operator base it is dispatched from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError

from airflow_provider_hfinfer.exceptions import SpecError

if TYPE_CHECKING:
    from airflow.sdk import Context


def spec_error(err: ValidationError | SpecError) -> SpecError:
    """The provider's spec error for a validation failure, one line per problem."""
    from airflow_provider_hfinfer.spec.messages import describe_errors

    lines = describe_errors(err) if isinstance(err, ValidationError) else [str(err)]
    return SpecError("invalid workload spec:\n  " + "\n  ".join(lines))


def task_identity(context: Context) -> str:
    """``dag/task/run``: who applies the objects (``hfinfer.io/owner``)."""
    ti = context["ti"]
    return f"{ti.dag_id}/{ti.task_id}/{context['run_id']}"


__all__ = ["spec_error", "task_identity"]
