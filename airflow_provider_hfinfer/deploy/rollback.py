"""Rolling a workload back to its previous spec, and pruning what a spec no longer has.

This module owns the cluster side of a failed rollout: :func:`restore` applies
the previous spec's plan again (its Secret left as it is: a token is never
stored in a spec record) and deletes what only the failed spec rendered;
:func:`prune` deletes objects an old render had and a new one lacks (a
ScaledObject replaced by an HTTPScaledObject, so two autoscalers never fight
over one Deployment). It reaches the cluster only through the apply step's
client and imports no Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_hfinfer.deploy.apply import ApplyClient, Log
from airflow_provider_hfinfer.deploy.plan import DeployPlan
from airflow_provider_hfinfer.spec.names import object_ref


def prune(
    client: ApplyClient,
    old: Sequence[Mapping[str, Any]],
    new: Sequence[Mapping[str, Any]],
    log: Log,
) -> list[str]:
    """Delete objects ``old`` rendered that ``new`` does not; return their ``Kind/name``."""
    wanted = {object_ref(item) for item in new}
    stale = [item for item in reversed(old) if object_ref(item) not in wanted]
    removed = [object_ref(item) for item in stale if client.delete(item)]
    if removed:
        log.info("removed objects the current spec no longer has: %s", ", ".join(removed))
    return removed


def restore(
    client: ApplyClient, target: DeployPlan, failed: Sequence[Mapping[str, Any]], log: Log
) -> None:
    """Apply ``target`` again (its Secret left as it is); drop what only ``failed`` had."""
    keep = [item for item in target.manifests if item["kind"] != "Secret"]
    client.apply(keep)
    prune(client, failed, target.manifests, log)
    log.warning(
        "rolled back workload %s to revision %s (%d objects re-applied; Secret left as is)",
        target.workload.name,
        target.workload.model.revision or "(default)",
        len(keep),
    )
