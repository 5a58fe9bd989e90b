"""What a deploy task applied: the one value its failure policy reads.

This module owns :class:`AppliedWorkload`, the typed record a create or update
task keeps of the workload it is applying (set before the apply starts, so a
kill mid-apply still knows), and that its failure policy, ``on_kill`` and the
failure callback read instead of operator attributes. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_hfinfer.deploy.plan import DeployPlan


@dataclass(frozen=True)
class AppliedWorkload:
    """The workload a deploy task applied, as its failure policy needs it.

    Attributes:
        name: The workload name.
        namespace: Its namespace.
        objects: ``Kind/name`` of every object applied, in apply order.
        adopted: Another task deployed the workload before (``if_exists="update"``):
            a failure of this task leaves it as it is.
        existed: The Deployment existed before this task (an update's failure rolls
            back or keeps it; only a first deploy gets ``on_failure``).
        rollback: The previous spec's plan, when a failed rollout rolls back to it.
        settled: The failure policy already ran for this attempt.
    """

    name: str
    namespace: str
    objects: tuple[str, ...] = ()
    adopted: bool = False
    existed: bool = False
    rollback: DeployPlan | None = None
    settled: bool = False

    def with_rollback(self, plan: DeployPlan | None) -> AppliedWorkload:
        """The same record with a rollback target (None: no way back)."""
        return replace(self, rollback=plan)

    def settled_now(self) -> AppliedWorkload:
        """The same record, marked as handled by the failure policy."""
        return replace(self, settled=True)
