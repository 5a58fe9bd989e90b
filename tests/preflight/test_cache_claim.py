"""The model cache claim's pre-flight rules: exists, binds, every replica mounts it, it fits."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_hfinfer.checks.preflight.cache import check_cache_claim

GIB = 2**30


def pvc(modes: list[str], size: str = "100Gi", phase: str = "Bound") -> dict[str, Any]:
    return {
        "metadata": {"name": "hf-cache"},
        "spec": {"accessModes": modes, "resources": {"requests": {"storage": size}}},
        "status": {"phase": phase, "accessModes": modes, "capacity": {"storage": size}},
    }


def codes(
    claim: dict[str, Any] | None,
    *,
    replicas: int = 1,
    prewarm: bool = False,
    needed: int | None = 16 * GIB,
) -> list[tuple[str, str]]:
    found = check_cache_claim(
        claim,
        claim="hf-cache",
        namespace="team-a",
        replicas=replicas,
        prewarm=prewarm,
        needed_bytes=needed,
    )
    return [(finding.level, finding.code) for finding in found]


@pytest.mark.parametrize(
    ("claim", "kwargs", "expected"),
    [
        (pvc(["ReadWriteMany"]), {"replicas": 4, "prewarm": True}, []),
        (pvc(["ReadWriteOnce"]), {"replicas": 1, "prewarm": True}, []),
        (pvc(["ReadWriteOnce"]), {"replicas": 2}, [("error", "cache_claim_single_node")]),
        (pvc(["ReadWriteOncePod"]), {"replicas": 3}, [("error", "cache_claim_single_node")]),
        (
            pvc(["ReadOnlyMany"]),
            {"replicas": 2, "prewarm": True},
            [("error", "cache_claim_read_only")],
        ),
        (pvc(["ReadOnlyMany"]), {"replicas": 2}, [("error", "cache_claim_read_only")]),
        (None, {}, [("error", "cache_claim_missing")]),
        (pvc(["ReadWriteMany"], phase="Pending"), {}, [("warning", "cache_claim_unbound")]),
        (pvc(["ReadWriteMany"], phase="Lost"), {}, [("error", "cache_claim_lost")]),
        (pvc(["ReadWriteMany"], size="17Gi"), {}, [("error", "cache_claim_too_small")]),
        (pvc(["ReadWriteMany"], size="18Gi"), {}, []),
        (pvc(["ReadWriteMany"], size="1Gi"), {"needed": None}, []),
    ],
    ids=[
        "rwx-many-replicas",
        "rwo-one-replica",
        "rwo-two-replicas",
        "rwop",
        "rox-prewarm",
        "rox-no-prewarm",
        "missing",
        "pending",
        "lost",
        "too-small",
        "fits",
        "size-unknown",
    ],
)
def test_claim_rules(
    claim: dict[str, Any] | None, kwargs: dict[str, Any], expected: list[Any]
) -> None:
    assert codes(claim, **kwargs) == expected


def test_messages_name_the_field_the_rule_and_the_fix() -> None:
    (finding,) = check_cache_claim(
        pvc(["ReadWriteOnce"]),
        claim="hf-cache",
        namespace="team-a",
        replicas=3,
        prewarm=True,
        needed_bytes=None,
    )
    assert finding.message.startswith(
        "cache.claim_name (hf-cache) has access modes [ReadWriteOnce]"
    )
    assert "use a ReadWriteMany storage class (NFS, EFS, Filestore, CephFS)" in finding.message
    (small,) = check_cache_claim(
        pvc(["ReadWriteMany"], size="10Gi"),
        claim="hf-cache",
        namespace="team-a",
        replicas=1,
        prewarm=False,
        needed_bytes=16 * GIB,
    )
    assert "holds 10.0Gi but the model's files need 16.0Gi" in small.message
    assert "resize the claim to at least 17.6Gi" in small.message
