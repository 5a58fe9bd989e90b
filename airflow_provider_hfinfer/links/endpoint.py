"""The "Inference endpoint" link of the create operator.

This module owns how the UI button finds the deployed workload's endpoint: the
URL the create task returned to XCom (``endpoint_url`` of its return value). On
Airflow 3 the worker calls :meth:`HFInferenceEndpointLink.get_link` once the task
finishes and stores the answer under the link's own XCom key, which the UI reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

RETURN_VALUE_KEY = "return_value"
ENDPOINT_FIELD = "endpoint_url"


def endpoint_from_result(result: Any) -> str:
    """The endpoint URL in a create task's return value, or ``""`` when there is none."""
    if not isinstance(result, dict) or result.get("dry_run"):
        return ""
    url = result.get(ENDPOINT_FIELD)
    return url if isinstance(url, str) else ""


class HFInferenceEndpointLink(BaseOperatorLink):
    """Links a create task to the OpenAI-compatible endpoint it deployed.

    Empty (no button target) while the task has not returned, when it failed,
    and for dry runs, which deploy nothing.
    """

    name = "Inference endpoint"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the ``endpoint_url`` the task pushed to XCom, or ``""``.

        Args:
            operator: The create operator the link belongs to.
            ti_key: The task instance whose XCom is read.
        """
        from airflow.sdk.execution_time.xcom import XCom

        # On the worker the key is the live task instance: a task that did not succeed
        # returned nothing, and asking for its XCom would only log a "not found" error.
        state = getattr(ti_key, "state", None)
        if state is not None and getattr(state, "value", state) != "success":
            return ""
        return endpoint_from_result(XCom.get_value(ti_key=ti_key, key=RETURN_VALUE_KEY))
