"""The intermediate verdict a detector returns, and the waiting policy.

A detector looks at one object (a pod, a container, the Deployment) and
answers with a :class:`Finding` or nothing. This module owns that shape and
the one rule every finding shares: when a failure stops being worth waiting
for (:meth:`Finding.is_terminal`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum

from .healing import Healing, grace_for
from .model import Phase

DEFAULT_GRACE_PERIOD_SECONDS = 900
"""How long a failure that heals on its own is waited on.

Fifteen minutes covers a cluster autoscaler provisioning a GPU node (often
5-10 minutes including driver set-up), a registry hiccup, or a quota freed by
another workload finishing. Failures only a user can fix wait much less: see
:mod:`.healing`.
"""

DEFAULT_CRASH_RESTART_THRESHOLD = 3
"""Restarts after which a crash-looping container is given up on.

vLLM fails deterministically on bad arguments or an unsupported model; three
identical restarts rule out a one-off (a node hiccup, a slow volume).
"""

DEFAULT_OOM_RESTART_THRESHOLD = 2
"""Restarts after which a container OOMKilled again is given up on.

Loading the same weights into the same limit OOMs the same way; one retry is
allowed because a neighbour's memory pressure can cause a single kill.
"""


class Severity(IntEnum):
    """How bad a finding is; higher sorts first."""

    PROGRESS = 1
    FAILURE = 2


@dataclass(frozen=True)
class Policy:
    """The thresholds the detectors apply.

    Attributes:
        grace: How long a failure that heals on its own (a node being added,
            capacity or quota freeing up, a registry hiccup) is waited on,
            counted from its earliest sign, before it becomes terminal; also
            the cap of the shorter waits of failures only a user can fix.
        crash_restarts: Restarts after which a crash-looping container is
            terminal.
        oom_restarts: Restarts after which a container that keeps being
            OOMKilled is terminal.
        overrides: Grace periods set per :class:`~.healing.Healing` class.
    """

    grace: timedelta
    crash_restarts: int = DEFAULT_CRASH_RESTART_THRESHOLD
    oom_restarts: int = DEFAULT_OOM_RESTART_THRESHOLD
    overrides: Mapping[Healing, timedelta] = field(default_factory=dict)

    def grace_for(self, healing: Healing | None) -> timedelta:
        """The grace period of a failure of class ``healing``."""
        return grace_for(healing, self.grace, self.overrides)


@dataclass(frozen=True)
class Finding:
    """One detector's verdict about one object.

    Attributes:
        reason: Short CamelCase reason (see :class:`~.model.Reason`).
        detail: Human text with nothing time-dependent in it.
        severity: Failure or mere progress.
        phase_hint: PENDING or STARTING: the phase while nothing serves and
            the finding is not terminal.
        since: The earliest sign of the condition, when known.
        hard_terminal: Terminal regardless of time.
        graceful: Terminal once ``since`` is older than the grace period.
        healing: What may fix a graceful failure, which picks its grace
            period; ``None`` waits the policy's ``grace``.
        clock_label: Verb for the elapsed-time note, e.g. ``running`` in
            "(vllm running for 4m12s)"; empty for no note.
        subject: The object the finding is about, e.g. a pod or ReplicaSet name.
        restarts: The failing container's restart count; 0 when the finding is
            not about a container.
        exit_code: The exit code of the container's last run, for crashes and
            OOM kills, when the kubelet reported one.
        log_tail: The container's last log lines (or its termination message)
            quoted for a crash or OOM kill; ``None`` when none were available.
    """

    reason: str
    detail: str
    severity: Severity
    phase_hint: Phase
    since: datetime | None = None
    hard_terminal: bool = False
    graceful: bool = False
    clock_label: str = ""
    subject: str = ""
    restarts: int = 0
    exit_code: int | None = None
    log_tail: str | None = None
    healing: Healing | None = None

    def is_terminal(self, now: datetime, policy: Policy) -> bool:
        """True when waiting longer will not help.

        A graceful failure whose start is unknown is never terminal here: the
        Deployment's progress deadline is the backstop for it.
        """
        if self.hard_terminal:
            return True
        if not self.graceful or self.since is None:
            return False
        return now - self.since >= policy.grace_for(self.healing)
