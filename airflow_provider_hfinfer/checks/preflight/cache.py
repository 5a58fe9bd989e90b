"""Pre-flight of a ``pvc`` model cache: does the claim exist, bind, mount everywhere, fit?

This module owns the rules checked before any GPU is requested for a workload
whose model cache is a PersistentVolumeClaim: the claim exists in the project;
it is Bound (Pending is only a warning: a ``WaitForFirstConsumer`` storage class
binds it when the first pod mounts it); its access modes let every replica
mount it (more than one replica needs ``ReadWriteMany``: ``ReadWriteOnce``
attaches to one node, and the prewarm Job must write where ``ReadOnlyMany``
only reads); and its capacity holds the files the cache keeps (their sizes from
the Hub's file listing). Pure: the claim and the sizes come in as arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from airflow_provider_hfinfer.spec.kube_syntax import parse_quantity

HEADROOM = Decimal("1.1")
"""The claim should hold the files plus 10% (locks, partial downloads, the record)."""

_SHARED = "ReadWriteMany"


@dataclass(frozen=True)
class CacheFinding:
    """One outcome of the cache checks.

    Attributes:
        level: ``error`` (the deploy would hang or fail) or ``warning``.
        code: A short stable code, e.g. ``cache_claim_missing``.
        message: What is wrong and the fix, in operator-argument words.
    """

    level: Literal["error", "warning"]
    code: str
    message: str


def _gib(amount: Decimal) -> str:
    return f"{amount / Decimal(2**30):.1f}Gi"


def _modes(pvc: Mapping[str, Any]) -> list[str]:
    spec = pvc.get("spec") or {}
    status = pvc.get("status") or {}
    found = status.get("accessModes") or spec.get("accessModes") or []
    return [str(mode) for mode in found]


def _capacity(pvc: Mapping[str, Any]) -> Decimal | None:
    status = (pvc.get("status") or {}).get("capacity") or {}
    requested = (((pvc.get("spec") or {}).get("resources") or {}).get("requests")) or {}
    raw = status.get("storage") or requested.get("storage")
    try:
        return parse_quantity(str(raw)) if raw else None
    except ValueError:
        return None


def _access(claim: str, modes: Sequence[str], replicas: int, prewarm: bool) -> list[CacheFinding]:
    shown = ", ".join(modes) or "none"
    if prewarm and _SHARED not in modes and "ReadWriteOnce" not in modes:
        return [
            CacheFinding(
                "error",
                "cache_claim_read_only",
                f"cache.claim_name ({claim}) has access modes [{shown}]: the prewarm Job must "
                "write the model into it; use a ReadWriteMany claim (replicas mount it "
                "read-only), or remove cache.prewarm",
            )
        ]
    if replicas > 1 and _SHARED not in modes and "ReadOnlyMany" not in modes:
        return [
            CacheFinding(
                "error",
                "cache_claim_single_node",
                f"cache.claim_name ({claim}) has access modes [{shown}] but up to {replicas} "
                "replicas mount it: a ReadWriteOnce volume attaches to one node, so replicas "
                "elsewhere never start; use a ReadWriteMany storage class (NFS, EFS, "
                "Filestore, CephFS), or set replicas.max to 1",
            )
        ]
    if replicas > 1 and not prewarm and _SHARED not in modes:
        return [
            CacheFinding(
                "error",
                "cache_claim_read_only",
                f"cache.claim_name ({claim}) is ReadOnlyMany: without cache.prewarm each "
                "replica downloads into it, which needs ReadWriteMany; set cache.prewarm, "
                "or use a ReadWriteMany claim",
            )
        ]
    return []


def check_cache_claim(
    pvc: Mapping[str, Any] | None,
    *,
    claim: str,
    namespace: str,
    replicas: int,
    prewarm: bool,
    needed_bytes: int | None,
) -> list[CacheFinding]:
    """Check the cache's PersistentVolumeClaim before the workload is applied.

    Args:
        pvc: The claim as the API returned it, or None when it does not exist.
        claim: Its name (``cache.claim_name``).
        namespace: The project's namespace.
        replicas: The most replicas that will mount it (``replicas.max``).
        prewarm: Whether the prewarm Job writes it (``cache.prewarm``).
        needed_bytes: What the cache will hold, from the Hub's file listing; None
            skips the capacity check.

    Returns:
        The problems found, errors first; empty when the claim fits.
    """
    if pvc is None:
        return [
            CacheFinding(
                "error",
                "cache_claim_missing",
                f"cache.claim_name ({claim}) names no PersistentVolumeClaim in namespace "
                f"{namespace}: create it first (a ReadWriteMany claim large enough for the "
                "model) or fix the name",
            )
        ]
    found: list[CacheFinding] = []
    phase = str((pvc.get("status") or {}).get("phase") or "Pending")
    if phase == "Lost":
        found.append(
            CacheFinding(
                "error",
                "cache_claim_lost",
                f"cache.claim_name ({claim}) is Lost: its volume is gone; re-create the claim",
            )
        )
    elif phase != "Bound":
        found.append(
            CacheFinding(
                "warning",
                "cache_claim_unbound",
                f"cache.claim_name ({claim}) is {phase}, not Bound: fine if its storage class "
                "binds on first use (WaitForFirstConsumer); otherwise check `kubectl describe "
                f"pvc {claim}` for a provisioning error",
            )
        )
    found += _access(claim, _modes(pvc), replicas, prewarm)
    capacity = _capacity(pvc)
    if needed_bytes and capacity is not None and capacity < needed_bytes * HEADROOM:
        want = Decimal(needed_bytes) * HEADROOM
        found.append(
            CacheFinding(
                "error",
                "cache_claim_too_small",
                f"cache.claim_name ({claim}) holds {_gib(capacity)} but the model's files "
                f"need {_gib(Decimal(needed_bytes))} (plus 10%): resize the claim to at least "
                f"{_gib(want)} or use a larger one",
            )
        )
    return sorted(found, key=lambda finding: finding.level != "error")
