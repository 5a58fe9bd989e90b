"""The ClusterIP Service and the in-cluster endpoint URL."""

from __future__ import annotations

from airflow_provider_hfinfer.render import endpoint_url

from .builders import NAMESPACE, container, one, options, render, workload


def test_service_routes_to_the_vllm_pods_named_port() -> None:
    manifests = render()
    service, deployment = one(manifests, "Service"), one(manifests, "Deployment")
    spec = service["spec"]
    assert service["metadata"]["name"] == "llama3-8b-chat"
    assert spec["type"] == "ClusterIP"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert spec["selector"] and spec["selector"].items() <= pod_labels.items()
    (port,) = spec["ports"]
    named = {item["name"]: item["containerPort"] for item in container(manifests)["ports"]}
    assert named[port["targetPort"]] == 8000
    assert port["port"] == 80
    assert port["protocol"] == "TCP"


def test_service_port_comes_from_options() -> None:
    (port,) = one(render(opts=options(service_port=8080)), "Service")["spec"]["ports"]
    assert port["port"] == 8080


def test_service_selects_only_this_workloads_pods() -> None:
    first = one(render(name="model-a"), "Service")["spec"]["selector"]
    second = one(render(name="model-b"), "Service")["spec"]["selector"]
    assert first != second


def test_endpoint_url_is_the_service_dns_name() -> None:
    url = endpoint_url(workload(), NAMESPACE, options())
    assert url == "http://llama3-8b-chat.runai-team-a.svc.cluster.local/v1"


def test_endpoint_url_names_a_non_default_port_and_cluster_domain() -> None:
    url = endpoint_url(
        workload(), NAMESPACE, options(service_port=8080, cluster_domain="k8s.local")
    )
    assert url == "http://llama3-8b-chat.runai-team-a.svc.k8s.local:8080/v1"


def test_endpoint_url_goes_through_the_interceptor_with_scale_to_zero() -> None:
    spec = workload(
        replicas={"max": 2},
        autoscaling={"metric": "concurrency", "threshold": 4},
        scale_to_zero={"idle_seconds": 300},
    )
    url = endpoint_url(spec, NAMESPACE, options(http_interceptor_url="http://interceptor:8080/"))
    assert url == "http://interceptor:8080/v1"
