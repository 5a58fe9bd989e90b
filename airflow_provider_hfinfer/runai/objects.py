"""A Run:ai inference seen as one object, so the lifecycle steps work on both backends.

This module owns :class:`RunaiWorkloads`, which offers the three verbs of
:class:`~airflow_provider_hfinfer.deploy.finish.WorkloadClient` (list a
workload's objects, annotate one, delete one) over the Run:ai API. A workload
this provider submitted is listed as one object of kind ``InferenceWorkload``
whose labels and annotations are its spec's; annotating it replaces the spec's
``annotations`` section (``PATCH``; Run:ai records that as a new revision);
deleting it is ``DELETE`` (and the credentials the provider made of an inline
token for it go with it); listing a project's managed workloads feeds the
cleanup. The ``on_failure`` policy, the complete and cleanup operators and TTL
marks then behave as on Kubernetes. No Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_hfinfer.runai.apply import (
    INFERENCE_TYPES,
    Existing,
    existing_of,
    find_ours,
    is_ours,
)
from airflow_provider_hfinfer.runai.plan import KIND
from airflow_provider_hfinfer.runai.session import RunaiSession
from airflow_provider_hfinfer.spec.names import CREDENTIAL_ANNOTATION, annotations_of

API_VERSION = "run.ai/v1"
"""The ``apiVersion`` the listed object carries (for ``Kind/name`` bookkeeping only)."""


def as_object(existing: Existing, name: str, namespace: str) -> dict[str, Any]:
    """A Run:ai inference as one ``InferenceWorkload`` object (labels, annotations, uid)."""
    return {
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
        return [] if existing is None else [as_object(existing, name, namespace)]

    def list_selected(
        self, label_selector: str, namespaces: Sequence[str] | None = None, **_: Any
    ) -> list[dict[str, Any]]:
        """Every inference workload this provider manages in the listed projects.

        One listing per project, then one read per inference workload (its labels and
        annotations live in its spec). ``label_selector`` is the provider's own
        (``managed-by``), which is what is checked.

        Raises:
            ValueError: No project given (Run:ai has no cross-project listing of specs).
        """
        if not namespaces:
            raise ValueError(
                "with backend='runai' the cleanup needs the Run:ai projects to clean: pass "
                "namespaces=['team-a', ...]"
            )
        found: list[dict[str, Any]] = []
        for project in namespaces:
            target = self.session.resolve(project)
            for summary in self.session.list_project(target):
                if str(summary.get("type") or "inference").lower() not in INFERENCE_TYPES:
                    continue
                workload_id = str(summary.get("id") or summary.get("workloadId"))
                inference = self.session.inference(workload_id)
                name = str(summary.get("name"))
                existing = existing_of(inference, workload_id) if inference else None
                if existing is not None and is_ours(existing, name):
                    found.append(as_object(existing, name, project))
        return found

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
        """Delete the workload and its credentials; False when it was already gone (or dry run)."""
        from airflow_provider_hfinfer.runai.tokens import prune

        if dry_run:
            return False
        meta = obj["metadata"]
        target = self.session.resolve(str(meta["namespace"]))
        deleted = self.session.delete(str(meta["uid"]), target)
        if CREDENTIAL_ANNOTATION in annotations_of(obj):
            prune(self.session, str(meta["name"]), target)
        return deleted
