"""What a render needs to know besides the spec: who applies it and what it replaces.

This module owns :class:`RenderContext`, the inputs that are not part of the
workload spec but shape the rendered objects: the task identity recorded as
``hfinfer.io/owner`` on every object, whether the Deployment records the spec
(the next rollout's rollback target) and the spec this rollout replaces, and the
node pool strict placement pinned the pods to, whether the replicas are held at
zero while the model cache is prewarmed, and the model's size. They are inputs of the renderer,
never patched onto its output, so the renderer stays the one producer of
manifests. None of them enters the spec hash: a new owner or record alone is not
drift. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_hfinfer.spec import InferenceWorkload


@dataclass(frozen=True)
class RenderContext:
    """Inputs of a render that are not part of the workload spec.

    Attributes:
        owner: The task identity (``dag/task/run``) written as ``hfinfer.io/owner``
            on every object; None writes none (``hfinfer render``, previews).
        record_spec: Record the redacted spec on the Deployment
            (``hfinfer.io/applied-spec``), the next rollout's rollback target.
        previous: The spec this rollout replaces, recorded redacted on the Deployment
            (``hfinfer.io/previous-spec``) so a resumed task finds its way back.
        pinned_pool: Strict node-pool order: the one pool the pods must land in.
        hold: Render the Deployment at zero replicas and no autoscaler (the prewarm
            Job fills the model cache first; the full render scales it up after).
        model_bytes: The model's weight bytes, when pre-flight measured them: the
            startup probe's window is derived from them.
    """

    owner: str | None = None
    record_spec: bool = False
    previous: InferenceWorkload | None = None
    pinned_pool: str | None = None
    hold: bool = False
    model_bytes: int | None = None


@dataclass(frozen=True)
class Stamp:
    """What every rendered object's metadata carries: the spec hash and the context.

    Attributes:
        digest: The spec hash (``hfinfer.io/spec-hash``), computed once per render.
        context: The render's context.
    """

    digest: str
    context: RenderContext = RenderContext()
