"""What a waiter logs about a cold start: one line per phase, one warning per stall, splits kept."""

from __future__ import annotations

from typing import Any

from status.coldstart_builders import Schedule, pod_events, started_pod, vllm_log
from status.status_builders import at, deployment, replica_set

from airflow_provider_hfinfer.deploy.coldstart import ColdStartReport


class Log:
    """Collects what the report logs."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.warnings: list[str] = []

    def info(self, msg: Any, *args: Any) -> None:
        self.lines.append(msg % args)

    def warning(self, msg: Any, *args: Any) -> None:
        self.warnings.append(msg % args)


DEFAULT = Schedule()


def snapshot(now: float, schedule: Schedule = DEFAULT) -> tuple[dict[str, Any], str, str]:
    deploy = deployment(ready=0, available_count=0)
    rs = replica_set(deploy)
    pod = started_pod(rs, schedule, now)
    objects = {
        "deployment": deploy,
        "replica_sets": [rs],
        "pods": [pod],
        "events": pod_events(pod, schedule, now),
    }
    return objects, pod["metadata"]["name"], vllm_log(schedule, now)


def test_one_line_per_phase_change_not_per_look() -> None:
    log = Log()
    report = ColdStartReport("llama", log)
    for now in (1, 1.5, 60, 61, 134):
        objects, _, _ = snapshot(now)
        report.report(report.assess(objects, at(now)))
    assert [line.split(" (")[0] for line in log.lines] == [
        "llama: scheduling",
        "llama: pulling image vllm/vllm-openai:v0.6.4",
        "llama: starting the container",
    ]


def test_a_split_seen_once_survives_the_tail_scrolling_on() -> None:
    log = Log()
    report = ColdStartReport("llama", log)
    objects, pod, tail = snapshot(300)
    report.tails[pod] = tail
    report.report(report.assess(objects, at(300)))
    report.tails[pod] = "2026-11-27T10:05:30Z INFO: Route: /v1/completions, Methods: POST\n"
    objects, _, _ = snapshot(400)
    report.report(report.assess(objects, at(400)))
    breakdown = report.breakdown()
    assert breakdown is not None
    assert breakdown["phases"]["downloading_weights"] == 120.0
    assert breakdown["phases"]["loading_model"] == 60.0
    assert "downloading_or_loading" not in breakdown["phases"]


def test_a_stall_is_warned_once_even_when_the_log_refines_the_phase() -> None:
    log = Log()
    report = ColdStartReport("llama", log, stall_after=60)
    stuck = Schedule(loading=None, ready=None)
    objects, pod, tail = snapshot(400, stuck)
    report.report(report.assess(objects, at(400)))  # no tail: downloading / loading
    report.tails[pod] = tail
    report.report(report.assess(objects, at(401)))  # with the tail: downloading weights
    assert len(log.warnings) == 1
    assert "no progress downloading weights / loading the model" in log.warnings[0]


def test_tails_are_due_at_most_every_interval_per_pod() -> None:
    moments = iter([0.0, 5.0, 20.0])
    report = ColdStartReport("llama", Log(), clock=lambda: next(moments))
    objects, pod, _ = snapshot(200)
    start = report.assess(objects, at(200))
    assert report.tails_due(start) == [pod]
    assert report.tails_due(start) == []  # 5 s later
    assert report.tails_due(start) == [pod]  # 20 s after the first read
