"""Which workload a task acts on: an explicit name and namespace, or a deploy task's XCom.

This module owns reading the create (or update) operator's result the way the
readiness sensor, the request operator and the complete operator receive it (a
dict, or text when templating rendered it), and the check that a name and a
namespace come out of it, with the fix when they do not. Pure: no Airflow, no
cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_hfinfer.spec.literal import read_back


def parse_workload_xcom(value: Any) -> dict[str, Any]:
    """The create operator's XCom as a dict, also when templating made it text."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str) and value.strip():
        parsed = read_back(value, what="workload_xcom")
        if isinstance(parsed, Mapping):
            return dict(parsed)
    raise ValueError(
        f"workload_xcom ({str(value)[:80]!r}) is not the create operator's result: pass "
        "its output (e.g. deploy.output) or a dict with name and namespace"
    )


@dataclass(frozen=True)
class WorkloadTarget:
    """The workload a task acts on.

    Attributes:
        name: The workload name.
        namespace: Its namespace (the project).
        fields: The rest of the deploy task's result (``served_model_name``,
            ``endpoint_url``, ``endpoint_host``, ``owner``...); empty without one.
    """

    name: str
    namespace: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        """One field of the deploy task's result, or None."""
        return self.fields.get(key)


def resolve_target(
    name: str | None, namespace: str | None, workload_xcom: Any = None
) -> WorkloadTarget:
    """Explicit ``name``/``namespace`` first, then the deploy task's result.

    Raises:
        ValueError: No name or no namespace came out; the message says how to give them.
    """
    fields: dict[str, Any] = {}
    if workload_xcom is not None:
        fields = parse_workload_xcom(workload_xcom)
        name = name or fields.get("name")
        namespace = namespace or fields.get("namespace")
    if not name or not namespace:
        raise ValueError(
            f"the workload needs a name and a namespace (got name={name!r}, "
            f"namespace={namespace!r}): set them or pass the create operator's XCom"
        )
    return WorkloadTarget(str(name), str(namespace), fields)
