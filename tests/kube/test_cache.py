"""The shared watches' cache: keys, filing, limits and fan-out, pure."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_hfinfer.kube import resources as res
from airflow_provider_hfinfer.kube.cache import (
    KindCache,
    Subscribers,
    event_keys,
    label_route,
    name_keys,
)
from airflow_provider_hfinfer.kube.requests import plan_list
from airflow_provider_hfinfer.kube.snapshot import about_workload

LABEL = "hfinfer.io/workload"


def pod(name: str, workload: str | None, rv: int = 1) -> dict[str, Any]:
    labels = {LABEL: workload} if workload else {}
    return {"metadata": {"name": name, "labels": labels, "resourceVersion": str(rv)}}


def event(name: str, involved: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "involvedObject": {"kind": "Pod", "name": involved}}


NAMES = st.text(alphabet="ab-", min_size=1, max_size=8)


@given(involved=NAMES, workload=NAMES)
def test_an_event_is_filed_under_exactly_the_workloads_it_is_about(
    involved: str, workload: str
) -> None:
    ev = event("e", involved)
    assert (workload in event_keys(ev)) == about_workload(ev, workload)


def test_event_keys_of_a_pod_event_are_its_name_and_dash_prefixes() -> None:
    assert event_keys(event("e", "llama-2-7d9-x2")) == (
        "llama",
        "llama-2",
        "llama-2-7d9",
        "llama-2-7d9-x2",
    )
    assert event_keys({"regarding": {"name": "qwen"}}) == ("qwen",)
    assert event_keys({"metadata": {"name": "e"}}) == ()


def test_label_and_name_routes() -> None:
    assert label_route(LABEL)(pod("p", "llama")) == ("llama",)
    assert label_route(LABEL)(pod("p", None)) == ()
    assert name_keys({"metadata": {"name": "llama"}}) == ("llama",)


def test_a_relabelled_pod_leaves_its_old_workload() -> None:
    cache = KindCache(label_route(LABEL))
    assert cache.apply("ADDED", pod("p1", "llama")) == {"llama"}
    assert list(cache.view("llama")) == ["p1"]
    assert cache.apply("MODIFIED", pod("p1", "qwen", rv=2)) == {"llama", "qwen"}
    assert list(cache.view("llama")) == [] and list(cache.view("qwen")) == ["p1"]
    assert cache.apply("MODIFIED", pod("p1", None, rv=3)) == {"qwen"}
    assert len(cache) == 0 and list(cache.view("qwen")) == []


def test_deleted_objects_leave_every_key_and_unknown_deletes_change_nothing() -> None:
    cache = KindCache(event_keys)
    assert cache.apply("ADDED", event("e1", "llama-2-abc")) == {"llama", "llama-2", "llama-2-abc"}
    assert cache.apply("DELETED", event("e1", "llama-2-abc")) == {
        "llama",
        "llama-2",
        "llama-2-abc",
    }
    assert cache.apply("DELETED", event("e9", "qwen")) == set()
    assert list(cache.view("llama")) == []


def test_the_limit_keeps_the_newest_per_workload_and_forgets_unreferenced_objects() -> None:
    cache = KindCache(event_keys, limit=2)
    cache.apply("ADDED", event("a", "llama-x"))
    cache.apply("ADDED", event("b", "llama-y"))
    cache.apply("MODIFIED", event("a", "llama-x"))  # a changed last: b is now the oldest
    cache.apply("ADDED", event("c", "llama-z"))
    assert list(cache.view("llama")) == ["a", "c"]
    # b is still the newest event about llama-y itself.
    assert list(cache.view("llama-y")) == ["b"]
    cache.apply("ADDED", event("d", "qwen"))
    cache.apply("ADDED", event("e", "qwen"))
    cache.apply("ADDED", event("f", "qwen"))
    assert list(cache.view("qwen")) == ["e", "f"]
    assert len(cache) == 5  # d is forgotten: no workload keeps it any more


def test_replace_reports_what_was_there_and_what_is_there() -> None:
    cache = KindCache(label_route(LABEL))
    cache.apply("ADDED", pod("p1", "llama"))
    changed = cache.replace([pod("p2", "qwen"), pod("p3", "qwen")])
    assert changed == {"llama", "qwen"}
    assert list(cache.view("llama")) == [] and list(cache.view("qwen")) == ["p2", "p3"]


def test_views_are_read_only() -> None:
    cache = KindCache(name_keys)
    cache.apply("ADDED", {"metadata": {"name": "llama"}})
    view = cache.view("llama")
    with pytest.raises(TypeError):
        view["x"] = {}  # type: ignore[index]


def test_subscribers_fan_out_by_key() -> None:
    subs: Subscribers[str] = Subscribers()
    subs.add("llama", "t1")
    subs.add("llama", "t1")
    subs.add("llama", "t2")
    subs.add("qwen", "t3")
    assert len(subs) == 3
    assert subs.of({"llama"}) == {"t1", "t2"}
    assert subs.of({"llama-2", "qwen"}) == {"t3"}
    subs.remove("llama", "t1")
    subs.remove("llama", "t1")
    subs.remove("nothing", "t9")
    assert len(subs) == 2 and subs.everyone() == {"t2", "t3"}


def test_list_pages_are_planned_with_limit_and_continue() -> None:
    first = plan_list(res.POD, "ml", label_selector="a=b", limit=500)
    assert first.query == (("labelSelector", "a=b"), ("limit", "500"))
    nxt = plan_list(res.POD, "ml", limit=500, continue_token="tok")
    assert ("continue", "tok") in nxt.query
