"""Create and delete operators through dag.test() against the fake API server."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from airflow_fixtures import captured_log as task_output

from airflow_provider_hfinfer.operators import HFInferenceCreateOperator, HFInferenceDeleteOperator

NS = "team-a"
TOKEN = "hf_TopSecretTokenValue42"
TOKEN_TEMPLATE = "{{ var.value.hf_create_delete_token }}"  # rendered when the task runs

WORKLOAD: dict[str, Any] = {
    "name": "llama",
    "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "revision": "main"},
    "hf_access": {"type": "token", "token": TOKEN_TEMPLATE},
    "compute": {"gpus": 2, "cpu": "4", "memory": "32Gi"},
    "replicas": {"min": 1, "max": 3},
    "autoscaling": {"metric": "concurrency", "threshold": 8},
    "endpoint_access": {"mode": "groups", "groups": ["ml"]},
    "labels": {"team": "ml"},
}

OPTIONS = {"jwt_issuer": "https://sso.example.com"}


@pytest.fixture(autouse=True)
def _token_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    # A literal token is refused in DAG code (it would be stored in the metadata DB).
    monkeypatch.setenv("AIRFLOW_VAR_HF_CREATE_DELETE_TOKEN", TOKEN)


def create_op(conn_id: str, **kwargs: Any) -> HFInferenceCreateOperator:
    params: dict[str, Any] = {
        "task_id": "deploy",
        "workload": WORKLOAD,
        "namespace": NS,
        "kubernetes_conn_id": conn_id,
        "render_options": OPTIONS,
        "preflight": "off",
    }
    params.update(kwargs)
    return HFInferenceCreateOperator(**params)


def stored(fake: Any) -> dict[str, dict[str, Any]]:
    """Every object in the namespace, by ``Kind/name``."""
    found = {}
    for group_version, plural, kind in [
        ("v1", "secrets", "Secret"),
        ("v1", "services", "Service"),
        ("apps/v1", "deployments", "Deployment"),
        ("keda.sh/v1alpha1", "scaledobjects", "ScaledObject"),
        ("security.istio.io/v1", "requestauthentications", "RequestAuthentication"),
        ("security.istio.io/v1", "authorizationpolicies", "AuthorizationPolicy"),
    ]:
        for obj in fake.list_objects(group_version, plural, NS):
            found[f"{kind}/{obj['metadata']['name']}"] = obj
    return found


def mark_available(fake: Any, name: str) -> None:
    """Act as the Deployment controller: report every replica available."""
    deployment = fake.get_object("apps/v1", "deployments", NS, name)
    generation = deployment["metadata"].get("generation", 1)
    fake.set_status(
        "apps/v1",
        "deployments",
        NS,
        name,
        {
            "observedGeneration": generation,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
            "availableReplicas": 1,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}
            ],
        },
    )


@pytest.fixture
def cluster(fake_kube: Any, fake_kube_conn_id: str) -> Any:
    fake_kube.create_namespace(NS)
    return fake_kube


def test_create_applies_every_object_with_labels(
    cluster: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    run = run_task(lambda: create_op(fake_kube_conn_id))
    assert run.state == "success"
    objects = stored(cluster)
    assert set(objects) == {
        "Secret/llama-hf-token",
        "RequestAuthentication/llama-jwt",
        "AuthorizationPolicy/llama-access",
        "Service/llama",
        "Deployment/llama",
        "ScaledObject/llama",
    }
    for obj in objects.values():
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "airflow-provider-hfinfer"
        assert labels["hfinfer.io/workload"] == "llama" and labels["team"] == "ml"
    secret = objects["Secret/llama-hf-token"]
    assert base64.b64decode(secret["data"]["HF_TOKEN"]).decode() == TOKEN
    # One server-side apply per object, no create/update calls.
    writes = cluster.requests.filter(is_write=True)
    assert [record.verb for record in writes] == ["apply"] * 6


def test_retry_after_a_failed_attempt_reconciles_without_duplicates(
    cluster: Any, fake_kube_conn_id: str, run_task: Any, capsys: Any, caplog: Any
) -> None:
    """Attempt 1 applies everything, then times out waiting; attempt 2 reuses the objects."""
    import threading
    import time
    from datetime import timedelta

    uids: dict[str, str] = {}
    stop = threading.Event()

    def controller() -> None:
        # Once the second attempt re-applies the Deployment, make it available.
        while not stop.is_set():
            applies = cluster.requests.count(method="PATCH", path_regex="/deployments/llama$")
            # The ScaledObject is applied last: once it is, attempt 1 created everything.
            last = cluster.requests.count(method="PATCH", path_regex="/scaledobjects/llama$")
            if last == 1 and applies == 1 and not uids:
                uids.update({ref: obj["metadata"]["uid"] for ref, obj in stored(cluster).items()})
            if applies >= 2:
                mark_available(cluster, "llama")
                return
            time.sleep(0.01)

    thread = threading.Thread(target=controller, daemon=True)
    thread.start()
    try:
        run = run_task(
            lambda: create_op(
                fake_kube_conn_id,
                wait_for_ready=True,
                timeout=1.5,
                poll_interval=0.05,
                retries=1,
                retry_delay=timedelta(0),
            )
        )
    finally:
        stop.set()
        thread.join(5)
    output = task_output(capsys, caplog)
    assert run.state == "success", output[-3000:]
    assert "reconciling existing objects" in output
    after = {ref: obj["metadata"]["uid"] for ref, obj in stored(cluster).items()}
    assert len(after) == 6 and after == uids
    assert cluster.requests.count(method="POST") == 0


def test_name_taken_by_another_run_fails_and_asks_for_another_name(
    cluster: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_task(lambda: create_op(fake_kube_conn_id)).state == "success"
    uids = {ref: obj["metadata"]["uid"] for ref, obj in stored(cluster).items()}
    run = run_task(lambda: create_op(fake_kube_conn_id))
    assert run.state == "failed"
    output = task_output(capsys, caplog)
    assert "choose another name" in output and "if_exists='update'" in output
    assert {ref: obj["metadata"]["uid"] for ref, obj in stored(cluster).items()} == uids


def test_foreign_object_with_the_name_is_left_untouched(
    cluster: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "llama", "namespace": NS, "labels": {"app": "other"}},
        "spec": {"ports": [{"port": 1234}]},
    }
    cluster.put_object(foreign)
    run = run_task(lambda: create_op(fake_kube_conn_id, if_exists="update"))
    assert run.state == "failed"
    assert "Service/llama already exists in the project and is not managed" in task_output(
        capsys, caplog
    )
    service = cluster.get_object("v1", "services", NS, "llama")
    assert service["metadata"]["labels"] == {"app": "other"}
    assert service["spec"]["ports"] == [{"port": 1234}]
    assert cluster.requests.count(is_write=True) == 0


def test_quota_exceeded_fails_before_creating_anything(
    cluster: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hard = {"requests.nvidia.com/gpu": "12"}
    cluster.put_object(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "project-quota", "namespace": NS},
            "spec": {"hard": hard},
            "status": {"hard": hard, "used": {"requests.nvidia.com/gpu": "12"}},
        }
    )
    run = run_task(lambda: create_op(fake_kube_conn_id, retries=0))
    assert run.state == "failed"
    assert "requests.nvidia.com/gpu: requested 2, used 12, hard 12" in task_output(capsys, caplog)
    assert stored(cluster) == {}


def test_server_errors_are_retried_until_success(
    cluster: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    from airflow_provider_hfinfer.kube import client as kube_client

    cluster.faults.add(method="PATCH", path_regex="/deployments/", status=503, times=2)
    cluster.faults.add(method="PATCH", path_regex="/services/", status=429, times=1, retry_after=0)
    original = kube_client.RetryPolicy.__init__.__defaults__
    kube_client.RetryPolicy.__init__.__defaults__ = (6, 0.01, 0.05, 30.0)
    try:
        run = run_task(lambda: create_op(fake_kube_conn_id))
    finally:
        kube_client.RetryPolicy.__init__.__defaults__ = original
    assert run.state == "success"
    assert "Deployment/llama" in stored(cluster)


def test_forbidden_names_the_missing_permission(
    cluster: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster.deny("patch", "deployments", NS, group="apps")
    run = run_task(lambda: create_op(fake_kube_conn_id, retries=0))
    assert run.state == "failed"
    assert "may not patch deployments.apps in namespace 'team-a'" in task_output(capsys, caplog)
    # What this attempt created before the failure was rolled back.
    assert stored(cluster) == {}


def test_token_appears_nowhere_but_the_secret(
    cluster: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    run = run_task(lambda: create_op(fake_kube_conn_id))
    assert run.state == "success"
    encoded = base64.b64encode(TOKEN.encode()).decode()
    for ref, obj in stored(cluster).items():
        text = json.dumps(obj)
        if ref != "Secret/llama-hf-token":
            assert TOKEN not in text and encoded not in text
    with create_session() as session:
        values = [row.value for row in session.query(XComModel).filter_by(run_id=run.run_id)]
    assert values and all(TOKEN not in json.dumps(value) for value in values)
    assert TOKEN not in task_output(capsys, caplog)
    result = json.loads(values[0]) if isinstance(values[0], str) else values[0]
    assert result["endpoint_url"] == "http://llama.team-a.svc.cluster.local/v1"


def test_delete_removes_everything_and_succeeds_twice(
    cluster: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "llama-other", "namespace": NS},
    }
    cluster.put_object(foreign)
    assert run_task(lambda: create_op(fake_kube_conn_id)).state == "success"

    def delete_op() -> HFInferenceDeleteOperator:
        return HFInferenceDeleteOperator(
            task_id="delete", name="llama", namespace=NS, kubernetes_conn_id=fake_kube_conn_id
        )

    assert run_task(delete_op).state == "success"
    assert set(stored(cluster)) == {"Service/llama-other"}
    assert run_task(delete_op).state == "success"


def _undeclared_cpu_quota(cluster: Any) -> None:
    hard = {"requests.cpu": "64", "requests.memory": "512Gi"}
    cluster.put_object(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "project-quota", "namespace": NS},
            "spec": {"hard": hard},
            "status": {"hard": hard, "used": {}},
        }
    )


def test_dry_run_reports_the_quota_failure_the_real_run_would_hit(
    cluster: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _undeclared_cpu_quota(cluster)
    gpus_only = {**WORKLOAD, "compute": {"gpus": 1}}
    dry = run_task(lambda: create_op(fake_kube_conn_id, workload=gpus_only, dry_run=True))
    assert dry.state == "failed"
    dry_output = task_output(capsys, caplog)
    message = "quota 'project-quota' limits requests.cpu, so every pod must declare it"
    assert "dry run: the real run would fail: [QuotaExceeded]" in dry_output
    assert message in dry_output
    assert stored(cluster) == {}  # a dry run writes nothing
    real = run_task(lambda: create_op(fake_kube_conn_id, workload=gpus_only, retries=0))
    assert real.state == "failed"
    assert message in task_output(capsys, caplog)


def test_dry_run_reports_a_taken_name(
    cluster: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster.put_object(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "llama", "namespace": NS, "labels": {"app": "other"}},
            "spec": {"ports": [{"port": 1234}]},
        }
    )
    run = run_task(lambda: create_op(fake_kube_conn_id, dry_run=True))
    assert run.state == "failed"
    assert "Service/llama already exists in the project and is not managed" in task_output(
        capsys, caplog
    )
    assert cluster.get_object("v1", "services", NS, "llama")["spec"]["ports"] == [{"port": 1234}]
