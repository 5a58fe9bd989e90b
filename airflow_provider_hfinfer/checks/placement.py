"""Strict node-pool order: which listed pool has free capacity for the replicas right now.

This module owns the capacity arithmetic behind ``strict_node_pool_order``: a
node's allocatable resources minus the requests of the non-terminated pods bound
to it, whether the whole pod fits on one node (GPUs, CPU, memory, pod slots,
taints, the pod's other required node terms), how many replicas each pool can
take, and the first pool in the user's order that takes them all, with a reason
for every pool passed over. Pure: node and pod dicts in, a typed decision out;
the hook lists the objects and the operator pins the chosen pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from airflow_provider_hfinfer.spec.kube_syntax import parse_quantity

TERMINATED_PHASES = frozenset({"Succeeded", "Failed"})
"""Pods in these phases hold no resources on their node."""

ACTIVE_PODS_FIELD_SELECTOR = "status.phase!=Succeeded,status.phase!=Failed"
"""Field selector listing only pods that may still hold node resources."""

_BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
_MAX_NODES_SHOWN = 3


def _quantity(value: Any) -> Decimal:
    try:
        return parse_quantity(str(value))
    except ValueError:
        return Decimal(0)


def _container_requests(container: Mapping[str, Any]) -> dict[str, Decimal]:
    resources = container.get("resources") or {}
    # The API server defaults a missing request to the limit; do the same here.
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {name: _quantity(value) for name, value in merged.items()}


def pod_requests(pod_spec: Mapping[str, Any]) -> dict[str, Decimal]:
    """What a pod takes from its node, as the scheduler counts it.

    The sum over containers, raised to the largest init container where that is
    higher, plus the pod overhead; one pod slot (``pods``) included.

    Args:
        pod_spec: A pod's ``spec`` (or a pod template's).

    Returns:
        Resource name -> amount in base units (cores, bytes, devices).
    """
    total: dict[str, Decimal] = {}
    for container in pod_spec.get("containers") or []:
        for name, amount in _container_requests(container).items():
            total[name] = total.get(name, Decimal(0)) + amount
    for container in pod_spec.get("initContainers") or []:
        for name, amount in _container_requests(container).items():
            total[name] = max(total.get(name, Decimal(0)), amount)
    for name, value in (pod_spec.get("overhead") or {}).items():
        total[name] = total.get(name, Decimal(0)) + _quantity(value)
    total["pods"] = Decimal(1)
    return total


@dataclass(frozen=True)
class PodShape:
    """One replica as the capacity check sees it.

    Attributes:
        requests: Resource name -> amount per pod, in base units.
        tolerations: The pod's tolerations (pod API dicts).
        node_terms: The pod's required node-selector terms other than the pool
            term (each a tuple of ``matchExpressions``; a node must match one term).
    """

    requests: Mapping[str, Decimal]
    tolerations: tuple[Mapping[str, Any], ...] = ()
    node_terms: tuple[tuple[Mapping[str, Any], ...], ...] = ()

    @classmethod
    def from_pod_spec(cls, pod_spec: Mapping[str, Any], pool_label_key: str) -> PodShape:
        """Read the shape of a rendered pod template's ``spec``.

        Args:
            pod_spec: The pod template's ``spec``.
            pool_label_key: The node-pool label key; its terms are the ones being decided.
        """
        node_affinity = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
        required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
        terms = tuple(
            tuple(
                expression
                for expression in term.get("matchExpressions") or []
                if expression.get("key") != pool_label_key
            )
            for term in required.get("nodeSelectorTerms") or []
        )
        return cls(
            requests=pod_requests(pod_spec),
            tolerations=tuple(pod_spec.get("tolerations") or ()),
            node_terms=tuple(term for term in terms if term) if all(terms) else (),
        )


@dataclass(frozen=True)
class NodeFit:
    """How many replicas one node of a pool can take, and why not more.

    Attributes:
        node: The node's name.
        replicas: Replicas that fit on it now.
        reason: ``room for 2``, ``1 free nvidia.com/gpu, needs 2``, ``cordoned``...
    """

    node: str
    replicas: int
    reason: str


@dataclass(frozen=True)
class PoolFit:
    """How many replicas one pool can take.

    Attributes:
        pool: The pool name.
        needed: Replicas that must fit.
        nodes: Per-node verdicts.
        label: ``key=pool``, for a pool without nodes.
    """

    pool: str
    needed: int
    nodes: tuple[NodeFit, ...]
    label: str = ""

    @property
    def fits(self) -> int:
        """Replicas that fit across the pool's nodes."""
        return sum(node.replicas for node in self.nodes)

    @property
    def has_room(self) -> bool:
        """Whether every needed replica fits."""
        return self.fits >= self.needed

    def describe(self) -> str:
        """``a100-pool: room for 0 replicas, 2 needed (node a1: 1 free nvidia.com/gpu, ...)``."""
        head = f"{self.pool}: room for {_replicas(self.fits)}, {self.needed} needed"
        if not self.nodes:
            return f"{head} (no nodes labelled {self.label})"
        shown = [f"node {node.node}: {node.reason}" for node in self.nodes[:_MAX_NODES_SHOWN]]
        if len(self.nodes) > _MAX_NODES_SHOWN:
            shown.append(f"{len(self.nodes) - _MAX_NODES_SHOWN} more node(s)")
        return f"{head} ({'; '.join(shown)})"


def _replicas(count: int) -> str:
    return f"{count} replica" if count == 1 else f"{count} replicas"


@dataclass(frozen=True)
class PlacementDecision:
    """The outcome of the strict node-pool check.

    Attributes:
        pool: The chosen pool, or None when no listed pool has room.
        pools: The verdict for every listed pool, in the user's order.
        needed: Replicas that had to fit.
    """

    pool: str | None
    pools: tuple[PoolFit, ...]
    needed: int

    @property
    def skipped(self) -> tuple[PoolFit, ...]:
        """The pools before the chosen one (all of them when none was chosen)."""
        names = [fit.pool for fit in self.pools]
        end = names.index(self.pool) if self.pool in names else len(names)
        return self.pools[:end]

    def describe(self) -> str:
        """One log line: the chosen pool and why each earlier pool was passed over."""
        skipped = "; ".join(fit.describe() for fit in self.skipped)
        if self.pool is None:
            return (
                f"strict node-pool order: no listed pool has room for {self.needed} "
                f"replica(s) now ({skipped}); keeping the preferred-order affinity"
            )
        chosen = next(fit for fit in self.pools if fit.pool == self.pool)
        text = f"strict node-pool order: pinned to {chosen.describe()}"
        return f"{text}; skipped {skipped}" if skipped else f"{text}; it is the first listed pool"


@dataclass
class _Node:
    name: str
    labels: Mapping[str, str]
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    used: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def of(cls, node: Mapping[str, Any]) -> _Node:
        meta = node.get("metadata") or {}
        return cls(
            str(meta.get("name", "?")),
            meta.get("labels") or {},
            node.get("spec") or {},
            node.get("status") or {},
        )

    @property
    def allocatable(self) -> Mapping[str, Any]:
        return self.status.get("allocatable") or self.status.get("capacity") or {}

    def free(self, resource: str) -> Decimal:
        return _quantity(self.allocatable.get(resource, 0)) - self.used.get(resource, Decimal(0))


def _tolerates(taint: Mapping[str, Any], tolerations: Iterable[Mapping[str, Any]]) -> bool:
    for toleration in tolerations:
        key, effect = toleration.get("key"), toleration.get("effect")
        if key and key != taint.get("key"):
            continue
        if effect and effect != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists" or toleration.get("value") == taint.get("value"):
            return True
    return False


def _expression_matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    operator, values = expression.get("operator"), list(expression.get("values") or [])
    value = labels.get(str(expression.get("key")))
    if operator == "In":
        return value in values
    if operator == "NotIn":
        return value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if value is None or not values or not value.lstrip("-").isdigit():
        return False
    return int(value) > int(values[0]) if operator == "Gt" else int(value) < int(values[0])


def _unusable(node: _Node, shape: PodShape) -> str | None:
    """Why no replica can land on the node whatever its free capacity, or None."""
    if node.spec.get("unschedulable"):
        return "cordoned"
    for condition in node.status.get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") != "True":
            return "not Ready"
    for taint in node.spec.get("taints") or []:
        if taint.get("effect") in _BLOCKING_EFFECTS and not _tolerates(taint, shape.tolerations):
            value = f"={taint['value']}" if taint.get("value") else ""
            return f"taint {taint.get('key')}{value}:{taint.get('effect')} not tolerated"
    if shape.node_terms and not any(
        all(_expression_matches(expression, node.labels) for expression in term)
        for term in shape.node_terms
    ):
        return "does not match the pod's other required node labels"
    return None


def _show(resource: str, amount: Decimal) -> str:
    if "memory" in resource or "storage" in resource:
        return f"{amount / 2**30:.1f}Gi"
    return f"{amount.normalize():f}"


def _node_fit(node: _Node, shape: PodShape, needed: int) -> NodeFit:
    blocked = _unusable(node, shape)
    if blocked:
        return NodeFit(node.name, 0, blocked)
    replicas, limiting = needed, ""
    # Devices (nvidia.com/gpu) first, so a node short of several things names the GPU.
    for resource in sorted(shape.requests, key=lambda name: ("/" not in name, name)):
        need = shape.requests[resource]
        # A node that reports no pod limit sets none; a missing device means none on it.
        if need <= 0 or (resource == "pods" and resource not in node.allocatable):
            continue
        free = node.free(resource)
        room = int(free // need) if free > 0 else 0
        if room < replicas:
            replicas = room
            limiting = (
                f"{_show(resource, max(free, Decimal(0)))} free {resource}, "
                f"needs {_show(resource, need)}"
            )
    if replicas == 0:
        return NodeFit(node.name, 0, limiting)
    return NodeFit(node.name, replicas, f"room for {replicas}")


def _is_own(pod: Mapping[str, Any], namespace: str | None, labels: Mapping[str, str]) -> bool:
    meta = pod.get("metadata") or {}
    pod_labels = meta.get("labels") or {}
    return (
        bool(labels)
        and meta.get("namespace") == namespace
        and all(pod_labels.get(key) == value for key, value in labels.items())
    )


def _charge_pods(
    nodes: Mapping[str, _Node],
    pods: Iterable[Mapping[str, Any]],
    own_namespace: str | None,
    own_labels: Mapping[str, str],
) -> None:
    for pod in pods:
        node = nodes.get(str((pod.get("spec") or {}).get("nodeName")))
        phase = (pod.get("status") or {}).get("phase")
        if node is None or phase in TERMINATED_PHASES:
            continue
        if _is_own(pod, own_namespace, own_labels):
            continue
        for resource, amount in pod_requests(pod.get("spec") or {}).items():
            node.used[resource] = node.used.get(resource, Decimal(0)) + amount


def decide_placement(
    nodes: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    *,
    pool_label_key: str,
    shape: PodShape,
    replicas: int,
    pools: Sequence[str],
    own_namespace: str | None = None,
    own_labels: Mapping[str, str] | None = None,
) -> PlacementDecision:
    """Pick the first listed pool whose nodes can take every replica now.

    Args:
        nodes: Node objects (any nodes; those outside ``pools`` are ignored).
        pods: Pod objects cluster-wide; terminated and unbound pods are ignored.
        pool_label_key: The node label naming the pool.
        shape: One replica's requests, tolerations and other node terms.
        replicas: The replicas that must fit (at least 1 is checked).
        pools: The pools in the user's priority order.
        own_namespace: Namespace of the workload being placed.
        own_labels: Labels of the workload's own pods: a retry or an update replaces
            them, so the capacity they hold is counted as free.

    Returns:
        The chosen pool (None when none has room) with a verdict for every pool.
    """
    needed = max(replicas, 1)
    by_name = {node.name: node for node in map(_Node.of, nodes)}
    _charge_pods(by_name, pods, own_namespace, own_labels or {})
    fits = tuple(
        PoolFit(
            pool,
            needed,
            tuple(
                _node_fit(node, shape, needed)
                for node in sorted(by_name.values(), key=lambda item: item.name)
                if node.labels.get(pool_label_key) == pool
            ),
            f"{pool_label_key}={pool}",
        )
        for pool in pools
    )
    chosen = next((fit.pool for fit in fits if fit.has_room), None)
    return PlacementDecision(chosen, fits, needed)


def pool_selector(pool_label_key: str, pools: Sequence[str]) -> str:
    """Label selector of the nodes in any of ``pools``: ``key in (a,b)``."""
    return f"{pool_label_key} in ({','.join(pools)})"
