"""Where one pod's start went: phases and their durations from the pod, its events and log.

This module owns the per-pod half of the cold-start model. From the pod's
creation time, its ``PodScheduled`` and ``Ready`` conditions, the kubelet's
``Pulling``/``Pulled`` events (with the ``Successfully pulled image ... in
2m10.5s`` duration when the kubelet states it), the container's start and, when
the log tail was read, the line where vLLM begins loading weights, it tells the
phase the pod is in, since when, how long each phase took, and whether the
current phase has shown no progress for longer than the caller's limit (with
the likely cause). It serves the vLLM pods and the prewarm Job's pod alike.
Pure: no I/O, no clock (``now`` is an argument).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from pydantic import BaseModel, ConfigDict

from ._fields import (
    K8sObject,
    find_condition,
    format_duration,
    get_int,
    get_list,
    get_map,
    get_str,
    get_time,
)
from .scope import EventRecord, name_of
from .startlog import (
    CAUSE_DISK_FULL,
    CAUSE_GATED,
    CAUSE_OFFLINE_MISS,
    CAUSE_THROTTLED,
    LogFacts,
    read_log,
)
from .text import scheduler_message, squash

DEFAULT_STALL_AFTER_SECONDS = 600.0
"""A phase that shows no progress for this long is reported as stalled (ten minutes)."""


class StartPhase(str, Enum):
    """The phases of a start, in the order a pod goes through them."""

    SCHEDULING = "Scheduling"
    PULLING_IMAGE = "PullingImage"
    STARTING = "Starting"
    DOWNLOADING_WEIGHTS = "DownloadingWeights"
    DOWNLOADING_OR_LOADING = "DownloadingOrLoading"
    """Container running, startup probe not passed, log tail not read: no split."""
    LOADING_MODEL = "LoadingModel"
    SERVING = "Serving"
    COMPLETE = "Complete"
    """A prewarm Job's pod that finished its download."""

    @property
    def key(self) -> str:
        """The snake_case key of the phase in a breakdown, e.g. ``pulling_image``."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.value).lower()

    @property
    def rank(self) -> int:
        """How far along a start this phase is (least advanced first)."""
        return _RANK[self]


_RANK = {
    StartPhase.SCHEDULING: 0,
    StartPhase.PULLING_IMAGE: 1,
    StartPhase.STARTING: 2,
    StartPhase.DOWNLOADING_WEIGHTS: 3,
    StartPhase.DOWNLOADING_OR_LOADING: 3,
    StartPhase.LOADING_MODEL: 4,
    StartPhase.SERVING: 5,
    StartPhase.COMPLETE: 5,
}

DONE_PHASES = frozenset({StartPhase.SERVING, StartPhase.COMPLETE})

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_PULLED_IN = re.compile(
    r"Successfully pulled image .*? in ((?:\d+(?:\.\d+)?(?:h|ms|us|µs|ns|m|s))+)"
)
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


class Stall(BaseModel):
    """A phase that has shown no progress for longer than the caller's limit.

    Attributes:
        pod: The pod it is about.
        phase: The phase that does not move.
        label: The phase for people, e.g. ``pulling image vllm/vllm-openai:v0.6.4``.
        seconds: Seconds without progress.
        cause: The likely cause and what to do, for people.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    pod: str
    phase: StartPhase
    label: str
    seconds: float
    cause: str

    def describe(self) -> str:
        """``no progress pulling image x for 10m00s (pod p): likely cause ...``."""
        spent = format_duration(timedelta(seconds=self.seconds))
        return f"no progress {self.label} for {spent} (pod {self.pod}): likely cause: {self.cause}"


class PodStart(BaseModel):
    """One pod's start so far.

    Attributes:
        name: The pod.
        phase: The phase it is in now.
        label: That phase for people (the image name while pulling).
        since: When the current phase began, when known.
        created: The pod's creation time.
        done_at: When it became ready (or, for a Job's pod, finished).
        image: The main container's image.
        durations: Seconds per phase (snake_case keys), the current phase up to now.
        bytes_done: Bytes downloaded, when the log reports them (prewarm Job).
        bytes_total: Bytes to download, when the log reports them.
        stall: The current phase's stall, when it has shown no progress too long.
        failed: A Job pod's container exited non-zero.
        log_read: The log tail was read for this assessment.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    phase: StartPhase
    label: str
    since: datetime | None = None
    created: datetime | None = None
    done_at: datetime | None = None
    image: str = ""
    durations: dict[str, float]
    bytes_done: int | None = None
    bytes_total: int | None = None
    stall: Stall | None = None
    failed: bool = False
    log_read: bool = False


@dataclass(frozen=True)
class _Moments:
    created: datetime | None
    scheduled: datetime | None
    pulling: datetime | None
    pulled: datetime | None
    pull_seconds: float | None
    started: datetime | None
    finished: datetime | None
    exit_code: int | None
    ready: datetime | None


def format_seconds(seconds: float) -> str:
    """Seconds the way ``kubectl`` ages read: ``45s``, ``4m12s``, ``1h05m``."""
    return format_duration(timedelta(seconds=seconds))


def go_duration_seconds(text: str) -> float | None:
    """Seconds in a Go duration such as ``2m10.5s`` or ``850ms``; None when unreadable."""
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def main_container(pod: K8sObject, container: str) -> tuple[K8sObject, K8sObject]:
    """The spec and status of ``container`` (else the first container) of ``pod``."""
    specs = get_list(pod, "spec", "containers")
    spec = next((c for c in specs if get_str(c, "name") == container), specs[0] if specs else {})
    wanted = get_str(spec, "name") or container
    statuses = get_list(pod, "status", "containerStatuses")
    status = next((s for s in statuses if get_str(s, "name") == wanted), {})
    return spec, status


def _condition_true_at(pod: K8sObject, kind: str) -> datetime | None:
    condition = find_condition(pod, kind)
    if condition is None or get_str(condition, "status") != "True":
        return None
    return get_time(condition, "lastTransitionTime")


def _first(events: Sequence[EventRecord], reason: str) -> EventRecord | None:
    dated = [event for event in events if event.reason == reason]
    dated.sort(key=lambda event: (event.first_seen is None, event.first_seen))
    return dated[0] if dated else None


def _pull(events: Sequence[EventRecord]) -> tuple[datetime | None, datetime | None, float | None]:
    pulling = _first(events, "Pulling")
    pulled = _first(events, "Pulled")
    if pulled is None:
        return (pulling.first_seen if pulling else None), None, None
    if "already present" in pulled.message:
        return pulled.first_seen, pulled.first_seen, 0.0
    match = _PULLED_IN.search(pulled.message)
    seconds = go_duration_seconds(match.group(1)) if match else None
    start = pulling.first_seen if pulling else None
    if seconds is None and start is not None and pulled.first_seen is not None:
        seconds = max(0.0, (pulled.first_seen - start).total_seconds())
    if start is None and seconds is not None and pulled.first_seen is not None:
        start = pulled.first_seen - timedelta(seconds=seconds)
    return start, pulled.first_seen, seconds


def _moments(pod: K8sObject, status: K8sObject, events: Sequence[EventRecord]) -> _Moments:
    scheduled_event = _first(events, "Scheduled")
    pulling, pulled, pull_seconds = _pull(events)
    running = get_map(status, "state", "running")
    terminated = get_map(status, "state", "terminated")
    return _Moments(
        created=get_time(pod, "metadata", "creationTimestamp"),
        scheduled=_condition_true_at(pod, "PodScheduled")
        or (scheduled_event.first_seen if scheduled_event else None),
        pulling=pulling,
        pulled=pulled,
        pull_seconds=pull_seconds,
        started=get_time(running, "startedAt") or get_time(terminated, "startedAt"),
        finished=get_time(terminated, "finishedAt"),
        exit_code=get_int(terminated, "exitCode"),
        ready=_condition_true_at(pod, "Ready"),
    )


def _seconds(start: datetime | None, end: datetime | None) -> float:
    if start is None or end is None:
        return 0.0
    return max(0.0, (end - start).total_seconds())


def _durations(m: _Moments, facts: LogFacts, phase: StartPhase, now: datetime) -> dict[str, float]:
    durations: dict[str, float] = {}
    sched_end = m.scheduled or now
    durations[StartPhase.SCHEDULING.key] = _seconds(m.created, sched_end)
    if m.scheduled is None:
        return durations
    if m.pull_seconds is not None:
        pulled = m.pull_seconds
    else:
        pulled = _seconds(m.pulling, now) if m.pulling is not None and m.started is None else 0.0
    durations[StartPhase.PULLING_IMAGE.key] = pulled
    durations[StartPhase.STARTING.key] = max(0.0, _seconds(m.scheduled, m.started or now) - pulled)
    if m.started is None:
        return durations
    end = m.ready or (m.finished if m.exit_code == 0 else None) or now
    if facts.load_started is not None and facts.load_started >= m.started:
        durations[StartPhase.DOWNLOADING_WEIGHTS.key] = _seconds(m.started, facts.load_started)
        durations[StartPhase.LOADING_MODEL.key] = _seconds(facts.load_started, end)
    elif phase in (StartPhase.DOWNLOADING_WEIGHTS, StartPhase.COMPLETE):
        durations[StartPhase.DOWNLOADING_WEIGHTS.key] = _seconds(m.started, end)
    else:
        durations[StartPhase.DOWNLOADING_OR_LOADING.key] = _seconds(m.started, end)
    return durations


def _phase(
    m: _Moments, facts: LogFacts, log_read: bool, *, job: bool
) -> tuple[StartPhase, datetime | None]:
    if job and m.exit_code == 0:
        return StartPhase.COMPLETE, m.finished
    if not job and m.ready is not None:
        return StartPhase.SERVING, m.ready
    if m.started is not None:
        if job:
            return StartPhase.DOWNLOADING_WEIGHTS, m.started
        if facts.load_seen:
            return StartPhase.LOADING_MODEL, facts.load_started or m.started
        if log_read:
            return StartPhase.DOWNLOADING_WEIGHTS, m.started
        return StartPhase.DOWNLOADING_OR_LOADING, m.started
    if m.scheduled is None:
        return StartPhase.SCHEDULING, m.created
    if m.pulling is not None and m.pulled is None:
        return StartPhase.PULLING_IMAGE, m.pulling
    return StartPhase.STARTING, m.pulled or m.scheduled


PREPARING_LABEL = "preparing the pod (sandbox, volumes)"
"""A scheduled pod before any pull event (phase Starting): the kubelet sets up the sandbox
and volumes first, and a pull event that arrives after the pod's status (two watches)
must not read as starting, pulling, starting again."""


def _label(phase: StartPhase, image: str) -> str:
    labels = {
        StartPhase.SCHEDULING: "scheduling",
        StartPhase.PULLING_IMAGE: f"pulling image {image}".strip(),
        StartPhase.STARTING: "starting the container",
        StartPhase.DOWNLOADING_WEIGHTS: "downloading weights",
        StartPhase.DOWNLOADING_OR_LOADING: "downloading weights / loading the model",
        StartPhase.LOADING_MODEL: "loading the model",
        StartPhase.SERVING: "serving",
        StartPhase.COMPLETE: "model cache complete",
    }
    return labels[phase]


_DOWNLOAD_CAUSES = {
    CAUSE_THROTTLED: (
        "Hub download throttled (HTTP 429 in the log): set an HF_TOKEN (authenticated "
        "downloads get higher limits) and use cache.prewarm so each replica stops downloading"
    ),
    CAUSE_GATED: (
        "the Hub refused the download (gated or private model): give hf_access a token "
        "whose account was granted access to the model"
    ),
    CAUSE_OFFLINE_MISS: (
        "HF_HUB_OFFLINE is set but the model cache lacks files: run the prewarm Job again "
        "(delete the workload and deploy it with cache.prewarm)"
    ),
    CAUSE_DISK_FULL: "the model cache volume is full: enlarge the PVC or cache.size_limit",
}


def likely_cause(log_tail: str | None) -> str:
    """The likely cause a failed download's log tail shows (throttled, gated...), or ""."""
    facts = read_log(log_tail, None)
    return _DOWNLOAD_CAUSES[facts.cause] if facts.cause else ""


def _has_token(spec: K8sObject) -> bool:
    return any(get_str(item, "name") == "HF_TOKEN" for item in get_list(spec, "env"))


def _offline(spec: K8sObject) -> bool:
    return any(
        get_str(item, "name") == "HF_HUB_OFFLINE" and get_str(item, "value") == "1"
        for item in get_list(spec, "env")
    )


def _cause(
    phase: StartPhase, spec: K8sObject, facts: LogFacts, events: Sequence[EventRecord]
) -> str:
    if phase is StartPhase.SCHEDULING:
        failed = [event for event in events if event.reason == "FailedScheduling"]
        said = scheduler_message(failed[-1].message) if failed else ""
        return (said + ": " if said else "") + (
            "no node has the GPUs free yet; a cluster autoscaler may still be adding one"
        )
    if phase is StartPhase.PULLING_IMAGE:
        errors = [e for e in events if e.reason == "Failed" and "pull" in e.message.lower()]
        if errors:
            return f"the registry refuses or fails the pull: {squash(errors[-1].message, 200)}"
        return (
            "image pull from a slow registry (the vLLM image is several GB): pre-pull it on "
            "the GPU nodes or mirror it in a registry near the cluster"
        )
    if phase is StartPhase.STARTING:
        return "the container is not created: a volume (the model cache PVC) may not attach"
    if facts.cause:
        return _DOWNLOAD_CAUSES[facts.cause]
    if phase is StartPhase.LOADING_MODEL:
        return "weights load slowly from the cache volume: network storage may be the bottleneck"
    if _offline(spec):
        return "the cache is warm and offline: the model loads slowly from the cache volume"
    if not _has_token(spec):
        return (
            "no HF_TOKEN: anonymous Hub downloads are rate-limited and gated models never "
            "download; set hf_access, and cache.prewarm to download once for every replica"
        )
    return (
        "Hub download slow or throttled (vLLM 0.6.4 prints nothing while it downloads): "
        "use cache.prewarm so replicas start from a warm cache"
    )


def pod_start(
    pod: K8sObject,
    events: Sequence[EventRecord],
    log_tail: str | None,
    *,
    now: datetime,
    stall_after_seconds: float = DEFAULT_STALL_AFTER_SECONDS,
    container: str = "vllm",
    job: bool = False,
) -> PodStart:
    """Tell one pod's start: its phase, since when, seconds per phase, and any stall.

    Args:
        pod: The pod as the API returned it.
        events: The Events about this pod (others are ignored).
        log_tail: Its container's log tail, or ``None`` when not read.
        now: The moment of assessment (UTC).
        stall_after_seconds: Seconds without progress after which the phase
            is reported as stalled.
        container: The container whose start counts (vLLM's, or the Job's).
        job: The pod belongs to the prewarm Job: it ends by finishing, not by
            becoming ready.

    Returns:
        The pod's start so far.
    """
    mine = [event for event in events if event.kind == "Pod" and event.name == name_of(pod)]
    spec, status = main_container(pod, container)
    moments = _moments(pod, status, mine)
    facts = read_log(log_tail, moments.started or moments.created)
    phase, since = _phase(moments, facts, log_tail is not None, job=job)
    image = get_str(status, "image") or get_str(spec, "image")
    label = _label(phase, image)
    if phase is StartPhase.STARTING and moments.pulling is None and moments.pulled is None:
        label = PREPARING_LABEL
    stall = None
    if phase not in DONE_PHASES and since is not None:
        progress = max(since, facts.last_progress) if facts.last_progress else since
        quiet = (now - progress).total_seconds()
        if quiet >= stall_after_seconds:
            stall = Stall(
                pod=name_of(pod),
                phase=phase,
                label=label,
                seconds=round(quiet, 1),
                cause=_cause(phase, spec, facts, mine),
            )
    return PodStart(
        name=name_of(pod),
        phase=phase,
        label=label,
        since=since,
        created=moments.created,
        done_at=moments.finished if phase is StartPhase.COMPLETE else moments.ready,
        image=image,
        durations={
            key: round(value, 3) for key, value in _durations(moments, facts, phase, now).items()
        },
        bytes_done=facts.bytes_done,
        bytes_total=facts.bytes_total,
        stall=stall,
        failed=job and moments.exit_code not in (None, 0),
        log_read=log_tail is not None,
    )
