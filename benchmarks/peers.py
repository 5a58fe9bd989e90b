"""What a user would otherwise write, built from the cncf-kubernetes provider, for the benchmarks.

Not part of the package. :class:`DeploymentPollTrigger` waits for a Deployment
the way the provider's ``KubernetesPodTrigger`` waits for a pod: through
``AsyncKubernetesHook`` (a new API client per read, as ``get_pod`` does), one
read per poll, then ``asyncio.sleep(poll_interval)`` (2 s, the pod trigger's
default). It reads the Deployment only, the cheapest poll that can tell
"available" (it cannot say why a workload fails). The pod trigger itself cannot
be used: it waits for a pod to leave ``Pending`` and then for its container to
*terminate*, which a model server never does. Reads are retried as the pod
trigger's are (three attempts, exponential wait); a read that still fails ends
the wait with an ``error`` event, as the pod trigger's does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any

import tenacity
from airflow.triggers.base import BaseTrigger, TriggerEvent


def deployment_available(deployment: Any) -> bool:
    """Available condition true, every desired replica ready, the latest spec observed."""
    status = deployment.status
    if status is None:
        return False
    wanted = deployment.spec.replicas if deployment.spec.replicas is not None else 1
    observed = (status.observed_generation or 0) >= (deployment.metadata.generation or 0)
    available = any(c.type == "Available" and c.status == "True" for c in (status.conditions or []))
    return observed and available and (status.ready_replicas or 0) >= wanted


class DeploymentPollTrigger(BaseTrigger):
    """Poll a Deployment every ``poll_interval`` seconds until it is available."""

    def __init__(
        self,
        name: str,
        namespace: str,
        kubernetes_conn_id: str,
        poll_interval: float = 2.0,
        timeout: float = 600.0,
    ) -> None:
        super().__init__()
        self.name = name
        self.namespace = namespace
        self.kubernetes_conn_id = kubernetes_conn_id
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.polls = 0

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments."""
        return (
            f"{__name__}.DeploymentPollTrigger",
            {
                "name": self.name,
                "namespace": self.namespace,
                "kubernetes_conn_id": self.kubernetes_conn_id,
                "poll_interval": self.poll_interval,
                "timeout": self.timeout,
            },
        )

    @cached_property
    def hook(self) -> Any:
        """The cncf-kubernetes async hook, as the pod trigger builds it."""
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook

        return AsyncKubernetesHook(conn_id=self.kubernetes_conn_id)

    @tenacity.retry(
        stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_exponential(), reraise=True
    )
    async def _read(self) -> Any:
        """Read the Deployment, retried as the pod trigger's ``_get_pod`` is."""
        from kubernetes_asyncio import client

        async with self.hook.get_conn() as api:
            self.polls += 1
            return await client.AppsV1Api(api).read_namespaced_deployment_status(
                self.name, self.namespace
            )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Read, check, sleep; one event when available or timed out."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                deployment = await self._read()
            except Exception as err:  # noqa: BLE001 - the pod trigger reports these as errors
                yield TriggerEvent({"status": "error", "name": self.name, "message": repr(err)})
                return
            if deployment_available(deployment):
                yield TriggerEvent({"status": "ready", "name": self.name})
                return
            await asyncio.sleep(self.poll_interval)
        yield TriggerEvent({"status": "timeout", "name": self.name})
