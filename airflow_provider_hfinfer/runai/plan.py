"""One planned Run:ai submission: the request body, its spec hash and the task's result.

This module owns :func:`prepare` (the runai counterpart of
:func:`airflow_provider_hfinfer.deploy.plan.prepare`): the backend's rules first
(:func:`.rules.check_runai`), then one render of the request body with the
spec hash computed once, and :class:`RunaiPlan`, which gives the XCom result a
create or update task returns (the same keys as the kubernetes backend's, plus
``backend``, ``workload_id``, ``project_id`` and ``cluster_id``) and the body
as a dry run prints it, secrets redacted. An inline token is planned as a
Run:ai credential (:mod:`.credential`) created before the workload, whose
secret the body references; its name is part of the spec hash, so a rotated
token is a change to roll out. Pure: no I/O.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from airflow_provider_hfinfer.render.metadata import spec_hash
from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.runai.body import RunaiTarget, Stamp, creation_request
from airflow_provider_hfinfer.runai.credential import (
    CredentialPlan,
    CredentialRef,
    plan_credential,
)
from airflow_provider_hfinfer.runai.rules import check_runai
from airflow_provider_hfinfer.spec import InferenceWorkload

KIND = "InferenceWorkload"
"""How XCom and messages name a Run:ai inference workload (``InferenceWorkload/<name>``)."""
REDACTED = "<redacted>"
MASKED = "**********"
"""How a recorded (redacted) spec shows a token (pydantic's ``SecretStr``)."""
_SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "KEY")


@dataclass(frozen=True)
class RunaiPlan:
    """One planned submission of a workload to Run:ai.

    Attributes:
        workload: The validated spec (an inline token is masked in every log).
        target: Project and cluster, by name and id.
        options: The settings it was rendered with (default image, loading window).
        stamp: Spec hash, owner and spec records.
        body: The ``InferenceCreationRequest``.
        token_ref: The secret ``HF_TOKEN`` comes from when the token was inline.
        credential: The credential to create or adopt first (None: none, or the
            plan references a credential that already exists, as a rollback does).
    """

    workload: InferenceWorkload
    target: RunaiTarget
    options: RenderOptions
    stamp: Stamp
    body: dict[str, Any] = dataclasses.field(repr=False)
    token_ref: CredentialRef | None = None
    credential: CredentialPlan | None = dataclasses.field(default=None, repr=False)

    @property
    def spec(self) -> dict[str, Any]:
        """The request's ``spec`` (also the body of an update)."""
        spec: dict[str, Any] = self.body["spec"]
        return spec

    @property
    def spec_hash(self) -> str:
        """The ``hfinfer.io/spec-hash`` the workload carries."""
        return self.stamp.digest

    @property
    def ref(self) -> str:
        """``InferenceWorkload/<name>``."""
        return f"{KIND}/{self.workload.name}"

    def result(self, **extra: Any) -> dict[str, Any]:
        """The task's XCom result (a fresh dict): where and what serves.

        ``endpoint_url`` is the URL Run:ai reports for the serving port, once it does.
        """
        workload = self.workload
        result: dict[str, Any] = {
            "name": workload.name,
            "namespace": self.target.project,
            "backend": "runai",
            "workload_id": None,
            "project_id": self.target.project_id,
            "cluster_id": self.target.cluster_id,
            "endpoint_url": None,
            "endpoint_host": None,
            "served_model_name": workload.model.served_model_name,
            "model": workload.model.id,
            "revision": workload.model.revision,
            "spec_hash": self.spec_hash,
            "objects": [self.ref],
            "owner": self.stamp.owner,
        }
        if self.token_ref is not None:
            result["objects"] = [self.ref, f"Credential/{self.token_ref.name}"]
        result.update(extra)
        return result

    def redacted_body(self) -> dict[str, Any]:
        """The exact request body, with any value of a secret-looking variable masked.

        The body holds secret references only (the rules refuse inline tokens); the
        mask is a second line of defence for a dry run's output.
        """
        body = copy.deepcopy(self.body)
        for variable in body["spec"].get("environmentVariables", []):
            name = str(variable.get("name", "")).upper()
            if "value" in variable and any(word in name for word in _SECRET_WORDS):
                variable["value"] = REDACTED
        return body

    def with_stamp(self, **changes: Any) -> RunaiPlan:
        """The same submission rendered again with some stamp fields changed."""
        again = prepare(
            self.workload,
            self.target,
            self.options,
            owner=changes.get("owner", self.stamp.owner),
            previous=changes.get("previous", self.stamp.previous),
            token_ref=self.token_ref,
        )
        return dataclasses.replace(again, credential=self.credential)

    def with_secret(self, secret: str) -> RunaiPlan:
        """The same submission, ``HF_TOKEN`` from the Kubernetes secret Run:ai reported."""
        if self.token_ref is None or self.token_ref.secret == secret:
            return self
        ref = dataclasses.replace(self.token_ref, secret=secret)
        body = creation_request(self.workload, self.target, self.options, self.stamp, ref)
        return dataclasses.replace(self, body=body, token_ref=ref)


def _scaling(workload: InferenceWorkload) -> str:
    low, high = workload.replicas.min, workload.replicas.max
    rule = workload.autoscaling
    if rule is None:
        return f"fixed at {low} replica(s)"
    line = f"{low}..{high} replicas, Run:ai autoscaling on {rule.metric} {int(rule.threshold)}"
    if workload.scale_to_zero is not None:
        line += f"; to zero after {workload.scale_to_zero.idle_seconds}s (retention)"
    return line


def describe(plan: RunaiPlan) -> str:
    """The plan a person reads before the request is sent (pure)."""
    workload, spec = plan.workload, plan.spec
    revision = f"@{workload.model.revision}" if workload.model.revision else ""
    port = spec["servingPort"]
    who = port["authorizationType"]
    listed = port.get("authorizedGroups") or port.get("authorizedUsers") or []
    ttl = workload.auto_delete_after
    pools = " > ".join(workload.node_pools) or "the project's default"
    lines = [
        f"Plan for Run:ai inference {workload.name!r} in project {plan.target.project!r}",
        f"  model      {workload.model.id}{revision} served as "
        f"{workload.model.served_model_name!r}",
        f"  compute    {workload.compute.gpus} GPU device(s) per replica; cpu "
        f"{workload.compute.cpu or '-'}, memory {workload.compute.memory or '-'}",
        f"  scaling    {_scaling(workload)}",
        f"  placement  Run:ai scheduler, node pools in order: {pools}"
        + (f"; node type {workload.node_type}" if workload.node_type else ""),
        f"  access     {who}" + (f" ({', '.join(listed)})" if listed else ""),
        "  deletion   "
        + ("never (delete it yourself)" if ttl is None else f"{ttl}s after completion (marks)"),
        f"  request    POST /api/v1/workloads/inferences ({plan.ref})",
    ]
    if plan.token_ref is not None:
        first = "created first" if plan.credential is not None else "existing"
        lines.insert(
            -1,
            f"  token      HF_TOKEN from Run:ai credential {plan.token_ref.name} "
            f"(generic secret, {first})",
        )
    return "\n".join(lines)


def runai_spec_hash(
    workload: InferenceWorkload,
    project: str,
    options: RenderOptions,
    credential: str | None = None,
) -> str:
    """The spec hash of a Run:ai submission (secrets masked; project and settings included).

    ``credential`` (the name of the credential an inline token became, which changes
    with the token) makes a rotated token a new spec to roll out.
    """
    scope = f"runai/{project}" + (f"/{credential}" if credential else "")
    return spec_hash(workload, scope, options)


def prepare(
    workload: InferenceWorkload,
    target: RunaiTarget,
    options: RenderOptions,
    *,
    owner: str | None = None,
    previous: InferenceWorkload | None = None,
    token_ref: CredentialRef | None = None,
) -> RunaiPlan:
    """Check and render a workload for Run:ai (pure).

    Args:
        workload: The validated spec (``hf_conn_id`` already turned into a token).
        target: Project and cluster ids.
        options: Settings (connection extras plus overrides).
        owner: The task identity recorded on the workload.
        previous: The spec an update replaces (recorded for a resumed task).
        token_ref: Reference this existing credential instead of planning one (a
            rollback to a recorded spec, whose token is masked).

    Returns:
        The plan: the body, its spec hash, the credential to create, the result.

    Raises:
        SpecError: The spec asks for something the Run:ai API cannot express.
        ValueError: A masked token (a recorded spec) without the credential it used.
    """
    check_runai(workload)
    credential = None
    if token_ref is None and workload.inline_token() is not None:
        if workload.inline_token() == MASKED:
            raise ValueError(
                f"the recorded spec of {workload.name} has its token masked: render it with "
                "the credential it used (token_ref)"
            )
        credential = plan_credential(workload, target.project, target.project_id)
        token_ref = credential.ref if credential else None
    digest = runai_spec_hash(
        workload, target.project, options, token_ref.name if token_ref else None
    )
    stamp = Stamp(digest, owner, True, previous)
    body = creation_request(workload, target, options, stamp, token_ref)
    return RunaiPlan(workload, target, options, stamp, body, token_ref, credential)


def placeholder_target(project: str, cluster: str = "") -> RunaiTarget:
    """A target for a dry run that cannot reach the control plane: ids left as markers."""
    return RunaiTarget(
        project, f"<id of project {project}>", cluster, f"<id of cluster {cluster or '?'}>"
    )


__all__ = ["KIND", "RunaiPlan", "describe", "placeholder_target", "prepare", "runai_spec_hash"]
