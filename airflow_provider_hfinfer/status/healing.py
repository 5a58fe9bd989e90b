"""Which failures can heal without a user, and how long each is waited on.

A failure that may heal (a pod no node fits, a refused ReplicaSet, an image
pull error, a missing Secret) is not terminal at once: something other than
the DAG author may fix it. What can fix it differs by cause, so the grace
period does too. This module owns that table: the :class:`Healing` classes,
their default grace periods, the pure classifiers that read a scheduler,
quota or registry message into a class, and the validation of the
per-class overrides a DAG author passes as ``grace_periods``.

=======================  =================================================  =============
Class                    When                                               Default grace
=======================  =================================================  =============
node-provisioning        Unschedulable; the cluster autoscaler is adding    grace_period
                         a node (``TriggeredScaleUp``)                      (900 s)
capacity                 Unschedulable for lack of free GPUs/CPU/memory;    grace_period
                         other workloads ending can free them               (900 s)
no-node-fits             Unschedulable and nothing will add a fitting       120 s
                         node: the autoscaler said ``NotTriggerScaleUp``,
                         or every node is ruled out by selector, affinity
                         or taints ("Preemption is not helpful")
quota-full               ReplicaSet refused: ``exceeded quota``; frees up   grace_period
                         as other workloads end                             (900 s)
quota-undeclared         ReplicaSet refused: the quota limits a resource    60 s
                         the pod does not declare (``must specify``)
admission-denied         ReplicaSet refused by an admission webhook or      60 s
                         policy (``denied``, ``forbidden``)
image-not-found          Image pull: the tag or repository does not exist   60 s
                         (``manifest unknown``, ``not found``)
image-access-denied      Image pull: the registry refuses the credentials   120 s
                         (``unauthorized``, ``denied``)
registry-unavailable     Image pull: any other error (timeouts, 5xx, rate   grace_period
                         limits, connection resets)                         (900 s)
missing-config           CreateContainer(Config)Error: a Secret or key is   300 s
                         missing; a secret syncer may still create it
=======================  =================================================  =============

The classes that heal on their own wait ``grace_period`` (the sensor's
argument); the others wait their own default or ``grace_period``, whichever is
shorter. ``grace_periods={"capacity": 1800}`` overrides one class.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from enum import Enum


class Healing(str, Enum):
    """What may fix a failure without a user, as a grace-period class."""

    NODE_PROVISIONING = "node-provisioning"
    CAPACITY = "capacity"
    NO_NODE_FITS = "no-node-fits"
    QUOTA_FULL = "quota-full"
    QUOTA_UNDECLARED = "quota-undeclared"
    ADMISSION_DENIED = "admission-denied"
    IMAGE_NOT_FOUND = "image-not-found"
    IMAGE_ACCESS_DENIED = "image-access-denied"
    REGISTRY_UNAVAILABLE = "registry-unavailable"
    MISSING_CONFIG = "missing-config"


FAST_GRACE_SECONDS: Mapping[Healing, float] = {
    Healing.NO_NODE_FITS: 120.0,
    Healing.QUOTA_UNDECLARED: 60.0,
    Healing.ADMISSION_DENIED: 60.0,
    Healing.IMAGE_NOT_FOUND: 60.0,
    Healing.IMAGE_ACCESS_DENIED: 120.0,
    Healing.MISSING_CONFIG: 300.0,
}
"""Default grace of the classes only a user can fix; the rest wait ``grace_period``.

The minute or two is not for healing: it lets the controllers' own retries
and events settle, so a failure seen once during a rollout is confirmed
before the task fails. ``missing-config`` waits longer because a secret
syncer (External Secrets, a sealed-secrets controller) may create the Secret
moments after the Deployment.
"""

LABELS: Mapping[Healing, str] = {
    Healing.NODE_PROVISIONING: "a node is being added",
    Healing.CAPACITY: "capacity may free up",
    Healing.NO_NODE_FITS: "no node can ever fit it",
    Healing.QUOTA_FULL: "quota may free up",
    Healing.QUOTA_UNDECLARED: "the pod must declare what the quota limits",
    Healing.ADMISSION_DENIED: "refused by admission policy",
    Healing.IMAGE_NOT_FOUND: "the image does not exist",
    Healing.IMAGE_ACCESS_DENIED: "the registry refuses access",
    Healing.REGISTRY_UNAVAILABLE: "the registry may recover",
    Healing.MISSING_CONFIG: "a Secret or key is missing",
}
"""How each class reads in a status message."""


def grace_for(
    healing: Healing | None,
    grace: timedelta,
    overrides: Mapping[Healing, timedelta] | None = None,
) -> timedelta:
    """The grace period of one class.

    Args:
        healing: The failure's class; ``None`` for one this table does not know.
        grace: The caller's ``grace_period``: the wait of the classes that heal
            on their own, and the cap of the others.
        overrides: Per-class grace periods the caller set explicitly.
    """
    if healing is None:
        return grace
    if overrides and healing in overrides:
        return overrides[healing]
    fast = FAST_GRACE_SECONDS.get(healing)
    return grace if fast is None else min(grace, timedelta(seconds=fast))


def parse_overrides(values: Mapping[str, float] | None) -> dict[Healing, timedelta]:
    """Read a ``grace_periods`` argument into per-class grace periods.

    Raises:
        ValueError: For an unknown class name or a value that is not a
            non-negative number of seconds; the message names the argument,
            the rule and the known classes.
    """
    if not values:
        return {}
    if not isinstance(values, Mapping):
        raise ValueError(
            f"grace_periods must map a failure class to seconds, got {type(values).__name__}; "
            f"e.g. grace_periods={{'capacity': 1800}}"
        )
    known = ", ".join(h.value for h in Healing)
    parsed: dict[Healing, timedelta] = {}
    for key, seconds in values.items():
        try:
            healing = Healing(key)
        except ValueError:
            raise ValueError(
                f"grace_periods: unknown failure class {key!r}; use one of: {known}"
            ) from None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError(
                f"grace_periods[{key!r}] must be a number of seconds >= 0, got {seconds!r}"
            )
        parsed[healing] = timedelta(seconds=float(seconds))
    return parsed


# ---------------------------------------------------------------- classifiers

_NEVER_FITS_MARKERS = (
    "didn't match pod's node affinity",
    "didn't match node selector",
    "untolerated taint",
    "had taint",
)


def classify_unschedulable(message: str, autoscaler_reason: str | None) -> Healing:
    """The class of an Unschedulable pod.

    Args:
        message: The scheduler's message (condition or FailedScheduling event).
        autoscaler_reason: The newest cluster-autoscaler event about the pod
            (``TriggeredScaleUp`` or ``NotTriggerScaleUp``), if any.
    """
    if autoscaler_reason == "TriggeredScaleUp":
        return Healing.NODE_PROVISIONING
    if autoscaler_reason == "NotTriggerScaleUp":
        return Healing.NO_NODE_FITS
    text = message.lower()
    # The scheduler's preemption note (Kubernetes 1.19+) says per node whether
    # an empty node would fit: "No preemption victims found" means a node is
    # full of pods of equal or higher priority, so capacity frees when they
    # end; "Preemption is not helpful" means that node cannot fit the pod even
    # empty (selector, affinity, taints, or, since 1.34, a request larger than
    # the node). One node of the first kind is enough to keep waiting.
    if "no preemption victims found" in text:
        return Healing.CAPACITY
    if "preemption is not helpful" in text:
        return Healing.NO_NODE_FITS
    if "insufficient" in text or "too many pods" in text:
        return Healing.CAPACITY
    if any(marker in text for marker in _NEVER_FITS_MARKERS):
        return Healing.NO_NODE_FITS
    return Healing.CAPACITY


def classify_failed_create(message: str) -> Healing | None:
    """The class of a ReplicaSet that cannot create pods; ``None`` if unknown."""
    text = message.lower()
    if "exceeded quota" in text:
        return Healing.QUOTA_FULL
    if "failed quota" in text and "must specify" in text:
        return Healing.QUOTA_UNDECLARED
    if "admission webhook" in text or "denied the request" in text or "forbidden" in text:
        return Healing.ADMISSION_DENIED
    return None


_NOT_FOUND_MARKERS = (
    "manifest unknown",
    "not found",
    "repository does not exist",
    "name unknown",
    "no such image",
)
_DENIED_MARKERS = ("unauthorized", "authentication required", "access denied", "denied:")


def classify_image_pull(cause: str) -> Healing:
    """The class of an ErrImagePull / ImagePullBackOff from the registry's answer."""
    text = cause.lower()
    if "toomanyrequests" in text or "rate limit" in text:
        return Healing.REGISTRY_UNAVAILABLE
    if any(marker in text for marker in _NOT_FOUND_MARKERS):
        return Healing.IMAGE_NOT_FOUND
    if "pull access denied" in text or any(marker in text for marker in _DENIED_MARKERS):
        return Healing.IMAGE_ACCESS_DENIED
    return Healing.REGISTRY_UNAVAILABLE
