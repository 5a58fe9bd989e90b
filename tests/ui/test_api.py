"""The Workloads page's API through Airflow's own API server app, auth included.

The requests go to the app ``airflow api-server`` serves (plugin loaded from the
package's entry point, SimpleAuthManager users from Airflow config) and from it
over loopback HTTP to the fake cluster.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from page_support import BROKEN, CONN, MISSING, Cluster, Page
from workloads_seed import DENIED_NS, LOG_TOKEN, NS, SECRET_TOKEN, WORKLOADS

BASE = "/hfinfer/api/workloads"


def rows_of(page: Page, user: str = "viewer", **params: Any) -> dict[str, Any]:
    answer = page.call("GET", BASE, user=user, params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in body["rows"]}


def test_installing_the_package_registers_the_plugin_and_its_nav_entry(page: Page) -> None:
    points = importlib.metadata.entry_points(group="airflow.plugins")
    assert "airflow_provider_hfinfer.ui.plugin:WorkloadsPlugin" in {p.value for p in points}, (
        "the airflow.plugins entry point is missing: reinstall the package (make install)"
    )
    answer = page.call("GET", "/api/v2/plugins", user="admin")
    assert answer.status_code == 200, answer.text
    plugins = {plugin["name"]: plugin for plugin in answer.json()["plugins"]}
    ours = plugins["hfinfer_workloads"]
    assert ours["fastapi_apps"][0]["url_prefix"] == "/hfinfer"
    view = ours["external_views"][0]
    assert (view["name"], view["url_route"], view["destination"]) == (
        "Inference workloads",
        "inference-workloads",
        "nav",
    )
    html = page.call("GET", view["href"], user=None)
    assert html.status_code == 200 and "<title>Inference workloads</title>" in html.text


def test_the_table_shows_every_workload_with_the_status_models_phase(page: Page) -> None:
    body = rows_of(page, connection=CONN)
    rows = by_name(body)
    assert set(rows) == {item.name for item in WORKLOADS}  # the foreign Deployment is not listed
    for item in WORKLOADS:
        assert (rows[item.name]["phase"], rows[item.name]["reason"]) == (item.phase, item.reason)
    serving = rows["chat-serving"]
    assert (serving["ready_replicas"], serving["desired_replicas"]) == (1, 1)
    assert (serving["gpus_per_replica"], serving["gpus_total"]) == (2, 2)
    assert serving["model"] == "meta-llama/Llama-3.1-8B-Instruct" and serving["revision"] == "main"
    assert serving["autoscaling"] == "1..3, concurrency > 8 per replica"
    assert serving["endpoint"] == f"http://chat-serving.{NS}.svc.cluster.local/v1"
    assert serving["owner"]["dag_id"] == "deploy_chat" and serving["owner"]["task_id"] == "deploy"
    assert serving["age_seconds"] is not None and serving["expires_at"] is None
    assert rows["chat-zero"]["gpus_total"] == 0
    done = rows["chat-done"]
    assert done["finished_phase"] == "Completed" and 3500 < done["expires_in_seconds"] <= 3600
    assert not any(row["can_edit"] for row in body["rows"])  # a viewer may edit no DAG
    assert rows_of(page, user="admin", connection=CONN)["rows"][0]["can_edit"] is True


def test_one_list_call_per_kind_and_namespace(page: Page, cluster: Cluster) -> None:
    cluster.server.requests.clear()
    body = rows_of(page, connection=CONN)
    summary = body["connections"][0]
    assert summary["namespaces"] == [NS, DENIED_NS]
    listed = cluster.server.requests.count(verb="list")
    assert listed == summary["list_calls"] == 7 + 3  # team-b fails at its third kind (pods)
    assert listed == len(cluster.server.requests)  # nothing but lists: no per-workload GET


def test_a_failing_cluster_is_shown_and_the_others_still_render(page: Page) -> None:
    body = rows_of(page, connection=[CONN, BROKEN])
    errors = {(e["connection"], e["namespace"]): e for e in body["errors"]}
    denied = errors[(CONN, DENIED_NS)]
    assert denied["status"] == 403 and denied["reason"] == "Forbidden"
    assert f"may not list pods in namespace '{DENIED_NS}'" in denied["message"]
    gone = errors[(BROKEN, NS)]
    assert gone["reason"] == "Unreachable" and gone["status"] == 0
    assert f"cannot reach the API server of connection '{BROKEN}'" in gone["message"]
    assert "connection refused" in gone["message"]
    assert len(body["rows"]) == len(WORKLOADS)  # the reachable namespace still renders


def test_the_page_offers_the_configured_connections_and_lists_the_defaults(page: Page) -> None:
    offered = page.call("GET", "/hfinfer/api/connections").json()
    assert offered == {
        "connections": [CONN, BROKEN, MISSING],
        "default": [CONN, BROKEN],
        "user": "viewer",
    }
    body = rows_of(page)
    assert [c["connection"] for c in body["connections"]] == [CONN, BROKEN]
    missing = rows_of(page, connection=MISSING)["errors"]
    assert [(e["reason"], e["namespace"]) for e in missing] == [("ConnectionNotFound", None)]
    assert f"'{MISSING}' is not defined" in missing[0]["message"]


def test_the_api_refuses_anonymous_callers_and_unknown_connections(page: Page) -> None:
    assert page.call("GET", BASE, user=None).status_code == 401
    answer = page.call("GET", BASE, params={"connection": "someone_elses"})
    assert answer.status_code == 400
    assert "workloads_connections" in answer.json()["detail"]


def test_the_detail_shows_conditions_events_log_and_specs_without_secrets(page: Page) -> None:
    crash = page.call("GET", f"{BASE}/{CONN}/{NS}/chat-crash")
    assert crash.status_code == 200, crash.text
    detail = crash.json()
    assert detail["row"]["reason"] == "CrashLoopBackOff" and detail["can_edit"] is False
    assert {c["type"] for c in detail["conditions"]} >= {"Available", "Progressing"}
    assert any(e["reason"] == "BackOff" for e in detail["events"])
    assert detail["pods"] and detail["pods"][0]["reason"] == "CrashLoopBackOff"
    tail = detail["log"]["tail"]
    assert "ValueError: max seq len" in tail and LOG_TOKEN not in tail
    assert "HF_TOKEN=<redacted>" in tail
    assert detail["applied_spec"]["name"] == "chat-crash" and detail["previous_spec"] is None

    serving = page.call("GET", f"{BASE}/{CONN}/{NS}/chat-serving").json()
    text = str(serving)
    assert SECRET_TOKEN not in text
    kinds = {obj["kind"] for obj in serving["objects"]}
    assert {"Secret", "Service", "Deployment", "ScaledObject"} <= kinds
    secret = next(obj for obj in serving["objects"] if obj["kind"] == "Secret")
    assert set((secret.get("stringData") or secret.get("data")).values()) == {"<redacted>"}
    assert all("managedFields" not in obj["metadata"] for obj in serving["objects"])
    assert serving["previous_spec"]["model"]["revision"] == "r0"
    assert serving["log"] is None
    assert page.call("GET", f"{BASE}/{CONN}/{NS}/nothing-here").status_code == 404


def test_read_only_users_are_refused_the_actions(page: Page, cluster: Cluster) -> None:
    for action in ("complete", "delete"):
        answer = page.call(
            "POST", f"{BASE}/{CONN}/{NS}/chat-serving/{action}", json={"confirm": "chat-serving"}
        )
        assert answer.status_code == 403, answer.text
        assert "may not edit DAG deploy_chat" in answer.json()["detail"]
    deployment = cluster.server.get_object("apps/v1", "deployments", NS, "chat-serving")
    assert deployment is not None
    assert "hfinfer.io/phase" not in deployment["metadata"]["annotations"]


def test_an_admin_marks_a_workload_completed_and_its_ttl_starts(
    page: Page, cluster: Cluster
) -> None:
    url = f"{BASE}/{CONN}/{NS}/chat-serving/complete"
    assert page.call("POST", url, user="admin", json={"confirm": "other"}).status_code == 400
    form = page.call("POST", url, user="admin", data={"confirm": "chat-serving"})
    assert form.status_code == 422  # JSON only: a cross-site form cannot act
    answer = page.call("POST", url, user="admin", json={"confirm": "chat-serving"})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["phase"] == "Completed" and result["expires_at"] is not None
    assert "Deployment/chat-serving" in result["marked"]
    deployment = cluster.server.get_object("apps/v1", "deployments", NS, "chat-serving")
    assert deployment is not None
    assert deployment["metadata"]["annotations"]["hfinfer.io/phase"] == "Completed"
    row = by_name(rows_of(page, connection=CONN))["chat-serving"]
    assert row["phase"] == "Completed" and 3500 < row["expires_in_seconds"] <= 3600


def test_an_admin_deletes_a_workload_now(page: Page, cluster: Cluster) -> None:
    url = f"{BASE}/{CONN}/{NS}/chat-crash/delete"
    answer = page.call("POST", url, user="admin", json={"confirm": "chat-crash"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["deleted"] == [
        "ScaledObject/chat-crash",
        "Deployment/chat-crash",
        "Service/chat-crash",
    ]
    assert cluster.server.get_object("apps/v1", "deployments", NS, "chat-crash") is None
    assert "chat-crash" not in by_name(rows_of(page, connection=CONN))
    again = page.call("POST", url, user="admin", json={"confirm": "chat-crash"})
    assert again.status_code == 404


def test_a_cluster_refusing_an_action_is_reported_with_the_missing_permission(
    page: Page, cluster: Cluster
) -> None:
    cluster.server.deny("delete", "deployments", namespace=NS, group="apps")
    url = f"{BASE}/{CONN}/{NS}/chat-oom/delete"
    answer = page.call("POST", url, user="admin", json={"confirm": "chat-oom"})
    assert answer.status_code == 502, answer.text
    detail = answer.json()["detail"]
    assert detail["status"] == 403 and "may not delete deployments.apps" in detail["message"]
