"""A Run:ai inference seen as one object, so the lifecycle steps work on both backends.

This module owns :class:`RunaiWorkloads`, which offers the three verbs of
:class:`~airflow_provider_hfinfer.deploy.finish.WorkloadClient` (list a
workload's objects, annotate one, delete one) over the Run:ai API. A workload
this provider submitted is listed as one object of kind ``InferenceWorkload``
whose labels and annotations are its spec's; annotating it replaces the spec's
``annotations`` section (``PATCH``; Run:ai records that as a new revision);
deleting it is ``DELETE``. The ``on_failure`` policy, the complete operator and
TTL marks then behave as on Kubernetes. No Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_hfinfer.runai.apply import find_ours
from airflow_provider_hfinfer.runai.plan import KIND
from airflow_provider_hfinfer.runai.session import RunaiSession
from airflow_provider_hfinfer.spec.names import annotations_of

API_VERSION = "run.ai/v1"
"""The ``apiVersion`` the listed object carries (for ``Kind/name`` bookkeeping only)."""


class RunaiWorkloads:
    """The lifecycle verbs over one Run:ai session.

    Args:
        session: The task's session.
    """

    def __init__(self, session: RunaiSession) -> None:
        self.session = session

    def list_workload_objects(self, name: str, namespace: str) -> list[dict[str, Any]]:
        """The workload as one object, when this provider manages it; else nothing."""
        target = self.session.resolve(namespace)
        existing = find_ours(self.session, name, target)
        if existing is None:
            return []
        return [
            {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "uid": existing.workload_id,
                    "labels": dict(existing.labels),
                    "annotations": dict(existing.annotations),
                },
            }
        ]

    def annotate(
        self, obj: Mapping[str, Any], annotations: Mapping[str, str | None]
    ) -> dict[str, Any]:
        """Merge annotations into the workload's spec (None removes a key)."""
        meta = obj["metadata"]
        merged = {**annotations_of(obj)}
        for key, value in annotations.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        pairs = [{"name": key, "value": str(value)} for key, value in merged.items()]
        target = self.session.resolve(str(meta["namespace"]))
        self.session.update(str(meta["uid"]), {"annotations": pairs}, target)
        return {**obj, "metadata": {**meta, "annotations": merged}}

    def delete(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> bool:
        """Delete the workload; False when it was already gone (or for a dry run)."""
        if dry_run:
            return False
        meta = obj["metadata"]
        return self.session.delete(str(meta["uid"]), self.session.resolve(str(meta["namespace"])))
