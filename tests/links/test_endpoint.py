"""The "Inference endpoint" extra link of the create operator."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_hfinfer import get_provider_info
from airflow_provider_hfinfer.links import HFInferenceEndpointLink
from airflow_provider_hfinfer.links.endpoint import endpoint_from_result
from airflow_provider_hfinfer.operators import HFInferenceCreateOperator

NS = "team-a"
LINK_KEY = "_link_HFInferenceEndpointLink"
WORKLOAD = {"name": "llama", "model": "meta-llama/Llama-3.1-8B-Instruct"}


def create_op(conn_id: str, **kwargs: Any) -> HFInferenceCreateOperator:
    return HFInferenceCreateOperator(
        task_id="deploy",
        workload=WORKLOAD,
        namespace=NS,
        kubernetes_conn_id=conn_id,
        preflight="off",
        retries=0,
        **kwargs,
    )


def stored_link(run: Any) -> str:
    """The link as the API server resolves it for the UI: from the link's own XCom."""
    from airflow.models.taskinstancekey import TaskInstanceKey
    from airflow.serialization.definitions.operatorlink import XComOperatorLink

    key = TaskInstanceKey(dag_id=run.dag_id, task_id="deploy", run_id=run.run_id, map_index=-1)
    resolver = XComOperatorLink(name="Inference endpoint", xcom_key=LINK_KEY)
    return resolver.get_link(None, ti_key=key)  # type: ignore[arg-type]


@pytest.fixture
def cluster(fake_kube: Any, fake_kube_conn_id: str) -> Any:
    fake_kube.create_namespace(NS)
    return fake_kube


def test_a_deploy_stores_its_endpoint_as_the_link(
    cluster: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    run = run_task(lambda: create_op(fake_kube_conn_id))

    assert run.state == "success"
    assert stored_link(run) == "http://llama.team-a.svc.cluster.local/v1"


def test_a_dry_run_links_nowhere(cluster: Any, fake_kube_conn_id: str, run_task: Any) -> None:
    run = run_task(lambda: create_op(fake_kube_conn_id, dry_run=True))

    assert run.state == "success"
    assert stored_link(run) == ""


def test_a_failed_deploy_links_nowhere(cluster: Any, fake_kube_conn_id: str, run_task: Any) -> None:
    cluster.deny("patch", "deployments", NS, group="apps")

    run = run_task(lambda: create_op(fake_kube_conn_id))

    assert run.state == "failed"
    assert stored_link(run) == ""


def test_the_link_is_on_the_operator_and_in_the_serialized_dag() -> None:
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG(dag_id="link_serialization", schedule=None) as dag:
        create_op("unused")

    assert [link.name for link in HFInferenceCreateOperator.operator_extra_links] == [
        "Inference endpoint"
    ]
    serialized = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    links = serialized.get_task("deploy").operator_extra_link_dict
    assert list(links) == ["Inference endpoint"]
    assert links["Inference endpoint"].xcom_key == LINK_KEY


def test_provider_info_declares_the_link_by_an_importable_path() -> None:
    from importlib import import_module

    from airflow.sdk import BaseOperatorLink

    (path,) = get_provider_info()["extra-links"]
    module, _, name = path.rpartition(".")
    cls = getattr(import_module(module), name)
    assert cls is HFInferenceEndpointLink and issubclass(cls, BaseOperatorLink)


@pytest.mark.parametrize(
    ("result", "link"),
    [
        ({"endpoint_url": "http://llama.team-a.svc.cluster.local/v1", "dry_run": False}, None),
        ({"endpoint_url": "http://x/v1", "dry_run": True}, ""),
        ({"name": "llama"}, ""),
        (None, ""),
        ("http://not-a-result", ""),
        ({"endpoint_url": 42}, ""),
    ],
)
def test_endpoint_from_result(result: Any, link: str | None) -> None:
    expected = result["endpoint_url"] if link is None else link
    assert endpoint_from_result(result) == expected
