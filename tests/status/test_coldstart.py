"""The cold-start phase model: phases and seconds from pods, events and log tails alone."""

from __future__ import annotations

import pytest

from airflow_provider_hfinfer.status.coldstart import (
    ColdStart,
    StartPhase,
    cold_start,
    log_tail_pods,
)
from airflow_provider_hfinfer.status.podstart import (
    PREPARING_LABEL,
    go_duration_seconds,
    pod_start,
)
from airflow_provider_hfinfer.status.scope import event_record
from airflow_provider_hfinfer.status.startlog import parse_lines, read_log

from .coldstart_builders import Schedule, pod_events, started_pod, vllm_log, with_env
from .status_builders import IMAGE, T0, at, deployment, replica_set

SCHEDULE = Schedule()


def look(
    now: float, schedule: Schedule = SCHEDULE, *, log: str | None = "stamped", **kw: object
) -> ColdStart:
    deploy = deployment(ready=0, available_count=0)
    rs = replica_set(deploy)
    built = started_pod(rs, schedule, now)
    tails = {}
    if log is not None:
        tails[built["metadata"]["name"]] = vllm_log(schedule, now, kubelet_stamps=log == "stamped")
    found = cold_start(
        deploy,
        [rs],
        [built],
        pod_events(built, schedule, now),
        now=at(now),
        log_tails=tails,
        **kw,  # type: ignore[arg-type]
    )
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("now", "phase", "label"),
    [
        (1, StartPhase.SCHEDULING, "scheduling"),
        (60, StartPhase.PULLING_IMAGE, f"pulling image {IMAGE}"),
        (134, StartPhase.STARTING, "starting the container"),
        (200, StartPhase.DOWNLOADING_WEIGHTS, "downloading weights"),
        (300, StartPhase.LOADING_MODEL, "loading the model"),
        (400, StartPhase.SERVING, "serving"),
    ],
)
def test_each_moment_of_a_start_reads_as_its_phase(
    now: float, phase: StartPhase, label: str
) -> None:
    found = look(now)
    assert (found.phase, found.label) == (phase, label)


def test_a_scheduled_pod_before_any_pull_event_is_preparing_not_starting() -> None:
    # Between the binding and the kubelet's Pulling event (sandbox, volumes), and
    # when the pod watch runs ahead of the events watch: neither pulling nor started.
    found = look(2.5)
    assert (found.phase, found.label) == (StartPhase.STARTING, PREPARING_LABEL)
    keys = [look(now).key() for now in (2.5, 60, 134)]
    assert len(set(keys)) == 3  # preparing, pulling, starting: each its own line


def test_a_served_start_is_broken_down_to_the_second_the_kubelet_followed() -> None:
    found = look(400)
    assert found.serving
    assert found.phases == {
        "scheduling": 2.0,
        "pulling_image": 130.0,  # the kubelet's own "in 2m10s"
        "starting": 4.0,  # scheduled at 2 to started at 136, less the pull
        "downloading_weights": 120.0,  # started 136, first shard line at 256
        "loading_model": 60.0,  # 256 to ready at 316
    }
    assert found.elapsed_seconds == 316.0
    assert found.breakdown()["total_seconds"] == 316.0


def test_without_kubelet_stamps_vllms_own_stamps_and_the_tqdm_bar_date_the_load() -> None:
    found = look(400, log="vllm")
    # the bar is dated from the next stamped line less its elapsed time: within a second
    assert found.phases["downloading_weights"] == pytest.approx(120.0, abs=1.0)
    assert found.phases["loading_model"] == pytest.approx(60.0, abs=1.0)


def test_without_a_log_tail_the_time_after_start_is_not_split() -> None:
    found = look(200, log=None)
    assert found.phase is StartPhase.DOWNLOADING_OR_LOADING
    assert found.label == "downloading weights / loading the model"
    assert found.phases["downloading_or_loading"] == 64.0
    assert "downloading_weights" not in found.phases


def test_the_pull_duration_falls_back_to_the_events_when_the_kubelet_states_none() -> None:
    found = look(400, Schedule(pull_in=None, pulled=100))
    assert found.phases["pulling_image"] == 97.0


def test_phase_lines_give_the_time_so_far_and_the_breakdown_once_serving() -> None:
    assert look(60).line("llama") == f"llama: pulling image {IMAGE} (1m00s so far)"
    served = look(400).line("llama")
    assert served.startswith("llama: serving (after 5m16s) - scheduling 2s, pulling image 2m10s")


def test_a_phase_without_progress_beyond_the_limit_is_a_stall_with_its_cause() -> None:
    slow = Schedule(pulled=None, started=None, loading=None, ready=None)
    healthy = look(100, slow, stall_after_seconds=600)
    assert healthy.stalls == ()
    stuck = look(700, slow, stall_after_seconds=600)
    (stall,) = stuck.stalls
    assert stall.phase is StartPhase.PULLING_IMAGE and stall.seconds == 697.0
    assert "slow registry" in stall.cause
    assert stall.describe().startswith(f"no progress pulling image {IMAGE} for 11m37s (pod ")
    assert stuck.failure_note() == f"failed while pulling image {IMAGE}, after 11m40s"


def test_a_silent_download_without_a_token_names_the_missing_token() -> None:
    slow = Schedule(loading=None, ready=None)
    deploy = deployment(ready=0, available_count=0)
    rs = replica_set(deploy)
    built = started_pod(rs, slow, 900)
    tail = vllm_log(slow, 900)
    found = cold_start(
        deploy,
        [rs],
        [built],
        pod_events(built, slow, 900),
        now=at(900),
        log_tails={built["metadata"]["name"]: tail},
        stall_after_seconds=300,
    )
    assert found is not None
    (stall,) = found.stalls
    assert stall.phase is StartPhase.DOWNLOADING_WEIGHTS
    assert "no HF_TOKEN" in stall.cause
    with_token = with_env(built, "HF_TOKEN")
    found = cold_start(
        deploy,
        [rs],
        [with_token],
        pod_events(built, slow, 900),
        now=at(900),
        log_tails={built["metadata"]["name"]: tail},
        stall_after_seconds=300,
    )
    assert found is not None and "throttled" in found.stalls[0].cause


@pytest.mark.parametrize(
    ("line", "cause"),
    [
        ("huggingface_hub.errors.HfHubHTTPError: 429 Client Error: Too Many Requests", "throttled"),
        ("huggingface_hub.errors.GatedRepoError: 401 Client Error.", "gated"),
        (
            "huggingface_hub.errors.LocalEntryNotFoundError: Cannot find the requested files",
            "offline_miss",
        ),
        ("OSError: [Errno 28] No space left on device", "disk_full"),
    ],
)
def test_log_signatures_name_the_likely_cause(line: str, cause: str) -> None:
    assert read_log(f"2026-11-27T10:00:00Z {line}\n", T0).cause == cause


def test_prewarm_reports_give_bytes_and_progress_only_when_they_grow() -> None:
    tail = "\n".join(
        [
            "2026-11-27T10:00:10Z hfinfer-prewarm: downloaded 100 of 1000 bytes",
            "2026-11-27T10:00:20Z hfinfer-prewarm: downloaded 400 of 1000 bytes",
            "2026-11-27T10:00:30Z hfinfer-prewarm: downloaded 400 of 1000 bytes",
        ]
    )
    facts = read_log(tail, T0)
    assert (facts.bytes_done, facts.bytes_total) == (400, 1000)
    assert facts.last_progress == at(20)
    assert not facts.prewarm_done
    assert read_log(
        tail + "\n2026-11-27T10:00:31Z hfinfer-prewarm: cache complete\n", T0
    ).prewarm_done


def test_vllm_stamps_take_their_year_from_the_anchor_across_new_year() -> None:
    from datetime import datetime, timezone

    anchor = datetime(2026, 12, 31, 23, 59, 0, tzinfo=timezone.utc)
    (line,) = parse_lines("INFO 01-01 00:00:30 api_server.py:585] up\n", anchor)
    assert line.at == datetime(2027, 1, 1, 0, 0, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2m10.5s", 130.5), ("850ms", 0.85), ("1h2m3s", 3723.0), ("12s", 12.0), ("soon", None)],
)
def test_go_durations(text: str, seconds: float | None) -> None:
    assert go_duration_seconds(text) == seconds


def test_two_replicas_wait_on_the_least_advanced_then_on_the_one_that_completed_the_set() -> None:
    deploy = deployment(replicas=2, ready=0, available_count=0)
    rs = replica_set(deploy, replicas=2)
    fast, slow = Schedule(), Schedule(created=0, ready=500, loading=400)
    pods = [started_pod(rs, fast, 450, "aaaaa"), started_pod(rs, slow, 450, "bbbbb")]
    events = pod_events(pods[0], fast, 450) + pod_events(pods[1], slow, 450)
    tails = {
        p["metadata"]["name"]: vllm_log(s, 450) for p, s in zip(pods, (fast, slow), strict=True)
    }
    found = cold_start(deploy, [rs], pods, events, now=at(450), log_tails=tails)
    assert found is not None and found.phase is StartPhase.LOADING_MODEL
    assert "pods: 1 loading the model, 1 serving" in found.line("llama")
    assert log_tail_pods(found) == [pods[1]["metadata"]["name"]]
    pods = [started_pod(rs, fast, 600, "aaaaa"), started_pod(rs, slow, 600, "bbbbb")]
    tails = {
        p["metadata"]["name"]: vllm_log(s, 600) for p, s in zip(pods, (fast, slow), strict=True)
    }
    found = cold_start(deploy, [rs], pods, events, now=at(600), log_tails=tails)
    assert found is not None and found.serving and found.elapsed_seconds == 500.0
    assert set(found.breakdown()["pods"]) == {p["metadata"]["name"] for p in pods}


def test_a_job_pod_completes_instead_of_becoming_ready() -> None:
    deploy = deployment(ready=0, available_count=0)
    built = started_pod(replica_set(deploy), Schedule(ready=None), 200)
    status = built["status"]["containerStatuses"][0]
    status["state"] = {
        "terminated": {
            "exitCode": 0,
            "reason": "Completed",
            "startedAt": "2026-11-27T10:02:16Z",
            "finishedAt": "2026-11-27T10:03:00Z",
        }
    }
    events = [event_record(e) for e in pod_events(built, Schedule(), 200)]
    found = pod_start(built, events, None, now=at(200), job=True)
    assert found.phase is StartPhase.COMPLETE and found.label == "model cache complete"
    assert found.durations["downloading_weights"] == 44.0
    assert not found.failed


def test_no_deployment_no_cold_start() -> None:
    assert cold_start(None, now=T0) is None
