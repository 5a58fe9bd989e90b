"""How a readiness verdict reads: one message naming what the wait is on.

This module owns the wording of :func:`~.assess.assess`'s message: the head
("1/2 ready"), groups of pods in one state ("2 pending: 0/6 nodes are
available"), the workload's own findings, the rollout's progress, and the
clock note of a failure that may still heal. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ._fields import (
    earliest,
    format_duration,
)
from .context import FAILURE_ORDER, GROUP_LABELS, PROGRESS_ORDER, AssessContext, Segment
from .findings import (
    Finding,
    Severity,
)
from .healing import LABELS


def head_line(ctx: AssessContext) -> str:
    """``1/2 ready`` (with ``(need N)`` when fewer than desired are required)."""
    need = f" (need {ctx.min_ready})" if ctx.min_ready != ctx.desired else ""
    return f"{ctx.ready_count}/{ctx.desired} ready{need}"


def clock_note(ctx: AssessContext, finding: Finding, since: datetime | None) -> tuple[str, str]:
    """Return (stable, volatile) notes about how long a state has lasted."""
    grace = format_duration(ctx.policy.grace_for(finding.healing))
    why = f"{LABELS[finding.healing]}: " if finding.healing is not None else ""
    stable = ""
    if finding.graceful and not finding.hard_terminal:
        stable = (
            f" [{why}past the {grace} grace period]"
            if ctx.terminal(finding)
            else f" [{why}waiting up to {grace}]"
        )
    if since is None or not finding.clock_label:
        return stable, stable
    elapsed = format_duration(ctx.now - since)
    return stable, f" ({finding.clock_label} for {elapsed}){stable}"


def pod_groups(ctx: AssessContext, findings: Sequence[Finding]) -> list[Segment]:
    """Pods in one state, one segment each: ``2 pending: 0/6 nodes are available``."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        groups.setdefault((finding.reason, finding.detail), []).append(finding)
    segments = []
    for (reason, detail), members in groups.items():
        label = GROUP_LABELS.get(reason, reason)
        since = earliest(*(member.since for member in members))
        stable_note, full_note = clock_note(ctx, members[0], since)
        text = f"{len(members)} {label}: {detail}"
        segments.append(Segment(text + stable_note, text + full_note))
    return segments


def workload_segments(ctx: AssessContext) -> list[Segment]:
    """One segment per finding about the workload itself (quota, deadline...)."""
    segments = []
    for finding in ctx.workload_findings:
        stable_note, full_note = clock_note(ctx, finding, finding.since)
        segments.append(Segment(finding.detail + stable_note, finding.detail + full_note))
    return segments


def rollout_segment(ctx: AssessContext) -> list[Segment]:
    """How far the rollout got, while it is not done."""
    if ctx.rollout_done:
        return []
    if not ctx.generation_observed:
        text = (
            f"rollout: controller has not observed generation {ctx.generation} yet "
            f"(observed {ctx.observed if ctx.observed is not None else 'none'})"
        )
    else:
        old = max(ctx.old_live, ctx.total - ctx.updated)
        if old == 0:
            # Nothing old to replace: the pods are merely not created yet,
            # which the head count and the causes already say.
            return []
        text = (
            f"rollout: {ctx.updated}/{ctx.desired} updated, "
            f"{old} old replica(s) pending termination"
        )
        if ctx.old_ready > 0:
            text += f" ({ctx.old_ready} still serving)"
    return [Segment(text, text)]


def ordered(ctx: AssessContext, findings: Sequence[Finding]) -> list[Finding]:
    """Findings most specific failure first, then least advanced progress."""

    def key(finding: Finding) -> tuple[bool, int, int]:
        order = FAILURE_ORDER if finding.severity is Severity.FAILURE else PROGRESS_ORDER
        rank = order.index(finding.reason) if finding.reason in order else len(order)
        return (not ctx.terminal(finding), -finding.severity, rank)

    return sorted(findings, key=key)


def compose(ctx: AssessContext, *, with_rollout: bool = True) -> tuple[str, str]:
    """Return (message, stable message): head, workload causes, pod groups, rollout."""
    pod_findings = ordered(ctx, ctx.pod_findings)
    segments = [Segment(head_line(ctx), head_line(ctx))]
    segments += workload_segments(ctx)
    segments += pod_groups(ctx, pod_findings)
    if with_rollout:
        segments += rollout_segment(ctx)
    return (
        "; ".join(segment.full for segment in segments),
        "; ".join(segment.stable for segment in segments),
    )
