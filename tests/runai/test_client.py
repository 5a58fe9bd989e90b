"""The Run:ai client and session against the fake control plane: bodies, errors, retries."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from fakerunai import CLIENT_ID, CLIENT_SECRET, CLUSTER_ID, CLUSTER_NAME, FakeRunai

from airflow_provider_hfinfer.exceptions import (
    NameTakenError,
    RunaiAccessDeniedError,
    RunaiConflictError,
    RunaiInvalidRequestError,
    RunaiNotFoundError,
    RunaiUnavailableError,
)
from airflow_provider_hfinfer.runai import apply as step
from airflow_provider_hfinfer.runai import tokens
from airflow_provider_hfinfer.runai.client import Backoff, RunaiClient
from airflow_provider_hfinfer.runai.session import RunaiSession

from .builders import plan_of, spec
from .test_fields import VARIATIONS

LOG = logging.getLogger("test")


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def session_for(
    fake: FakeRunai,
    *,
    secret: str = CLIENT_SECRET,
    cluster: str = CLUSTER_NAME,
    sleeps: Sleeps | None = None,
) -> RunaiSession:
    client = RunaiClient(
        fake.url,
        CLIENT_ID,
        secret,
        backoff=Backoff(attempts=4),
        sleep=sleeps if sleeps is not None else Sleeps(),
    )
    return RunaiSession(client, cluster)


def test_names_resolve_to_ids_once_per_session(fake_runai: FakeRunai) -> None:
    session = session_for(fake_runai)
    target = session.resolve("team-a")
    assert (target.project_id, target.cluster_id) == ("4", CLUSTER_ID)
    assert session.resolve("team-a") is target
    assert len(fake_runai.sent("GET", "/api/v1/org-unit/projects")) == 1
    assert len(fake_runai.sent("GET", "/api/v1/clusters")) == 1
    assert len(fake_runai.sent("POST", "/api/v2/token")) == 1


def test_an_unknown_project_lists_the_known_ones(fake_runai: FakeRunai) -> None:
    with pytest.raises(
        RunaiNotFoundError,
        match=r"no Run:ai project 'team-z' \(known: team-a, "
        r"team-b\): pass one of them as namespace",
    ):
        session_for(fake_runai).resolve("team-z")


def test_an_unknown_cluster_lists_the_known_ones(fake_runai: FakeRunai) -> None:
    with pytest.raises(RunaiNotFoundError, match=r"no cluster 'other' \(known: gpu-cluster\)"):
        session_for(fake_runai, cluster="other").resolve("team-a")


def test_a_cluster_may_be_given_by_its_uuid(fake_runai: FakeRunai) -> None:
    assert session_for(fake_runai, cluster=CLUSTER_ID).resolve("team-a").project_id == "4"


def test_refused_credentials_name_the_connection_fields(fake_runai: FakeRunai) -> None:
    with pytest.raises(RunaiAccessDeniedError, match="login \\(client id\\) and password") as err:
        session_for(fake_runai, secret="wrong").resolve("team-a")
    assert err.value.status == 401 and "wrong" not in str(err.value)


def test_a_403_names_the_missing_permission(fake_runai: FakeRunai) -> None:
    fake_runai.deny("POST /api/v1/workloads/inferences")
    session = session_for(fake_runai)
    plan = plan_of(spec(), session.resolve("team-a"))
    with pytest.raises(RunaiAccessDeniedError) as err:
        step.submit(session, plan, None, LOG)
    message = str(err.value)
    assert "may not create inference workloads in the project in project 'team-a'" in message
    assert "Give it a role that can create inference workloads" in message


@pytest.mark.parametrize("field", sorted(VARIATIONS))
def test_every_body_the_mapping_renders_is_accepted_by_the_published_schema(
    fake_runai: FakeRunai, field: str
) -> None:
    session = session_for(fake_runai)
    target = session.resolve("team-a")
    _, after, _ = VARIATIONS[field]
    data = copy.deepcopy(after)
    data["name"] = "w-" + str(len(fake_runai.workloads))
    fake_runai.credentials.add_secret("4", "other")  # the existing secret a variation names
    plan = tokens.ensure(session, plan_of(data, target), LOG)  # an inline token's credential
    submitted = step.submit(session, plan, None, LOG)
    assert submitted.created
    assert fake_runai.workloads[submitted.workload_id].spec == plan.spec


@pytest.mark.parametrize(
    ("mutate", "said"),
    [
        (lambda b: b["spec"].update(gpus=2), "spec: Additional properties are not allowed ('gpus'"),
        (
            lambda b: b["spec"]["compute"].update(gpuDevicesRequest="2"),
            "spec.compute.gpuDevicesRequest: '2' is not of type 'integer'",
        ),
        (lambda b: b.pop("projectId"), "(body): 'projectId' is a required property"),
    ],
)
def test_an_unknown_or_mistyped_field_is_a_400_quoting_the_field(
    fake_runai: FakeRunai, mutate: Any, said: str
) -> None:
    session = session_for(fake_runai)
    plan = plan_of(spec(), session.resolve("team-a"))
    body = copy.deepcopy(plan.body)
    mutate(body)
    with pytest.raises(RunaiInvalidRequestError) as err:
        session.create(body, plan.target)
    assert err.value.status == 400 and said in str(err.value)


def test_a_broken_cross_field_rule_is_a_422_with_the_api_message(fake_runai: FakeRunai) -> None:
    session = session_for(fake_runai)
    plan = plan_of(spec(), session.resolve("team-a"))
    body = copy.deepcopy(plan.body)
    del body["spec"]["autoscaling"]["metric"]
    with pytest.raises(RunaiInvalidRequestError, match="422.*autoscaling.metric: mandatory"):
        session.create(body, plan.target)


def test_429_and_503_are_sent_again_with_backoff_and_retry_after(fake_runai: FakeRunai) -> None:
    sleeps = Sleeps()
    session = session_for(fake_runai, sleeps=sleeps)
    fake_runai.fail("GET", "/api/v1/clusters", 503, times=2)
    fake_runai.fail("GET", "/api/v1/org-unit/projects", 429, times=1, retry_after=7)
    assert session.resolve("team-a").project_id == "4"
    assert sleeps == [0.5, 1.0, 7.0]


def test_a_control_plane_that_keeps_failing_is_reported(fake_runai: FakeRunai) -> None:
    fake_runai.fail("GET", "/api/v1/clusters", 503, times=10)
    with pytest.raises(RunaiUnavailableError, match="kept failing \\(HTTP 503\\)"):
        session_for(fake_runai).resolve("team-a")
    assert len(fake_runai.sent("GET", "/api/v1/clusters")) == 4


def test_an_expired_token_is_renewed_once(fake_runai: FakeRunai) -> None:
    session = session_for(fake_runai)
    session.resolve("team-a")
    fake_runai.tokens.clear()  # every token the client holds is now unknown
    assert session.find("llama", session.resolve("team-a")) is None
    assert len(fake_runai.sent("POST", "/api/v2/token")) == 2


def test_the_token_comes_from_the_oauth2_form_endpoint(fake_runai: FakeRunai) -> None:
    session_for(fake_runai).resolve("team-a")
    (sent,) = fake_runai.sent("POST", "/api/v2/token")
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "grant_type=client_credentials" in sent.body and CLIENT_SECRET in sent.body
    assert fake_runai.sent("POST", "/api/v1/token") == []


def test_a_control_plane_without_v2_tokens_is_asked_v1_from_then_on(
    fake_runai: FakeRunai,
) -> None:
    fake_runai.token_v2 = False
    session = session_for(fake_runai)
    session.resolve("team-a")
    fake_runai.tokens.clear()  # a renewal goes straight to v1
    assert session.find("llama", session.resolve("team-a")) is None
    assert len(fake_runai.sent("POST", "/api/v2/token")) == 1
    assert len(fake_runai.sent("POST", "/api/v1/token")) == 2


def test_a_wrong_secret_on_v2_names_the_connection(fake_runai: FakeRunai) -> None:
    with pytest.raises(RunaiAccessDeniedError) as caught:
        session_for(fake_runai, secret="wrong").resolve("team-a")
    assert "invalid_client bad credentials" in str(caught.value)
    assert "wrong" not in str(caught.value)
    assert fake_runai.sent("POST", "/api/v1/token") == []  # a 401 is no reason to fall back


def test_the_fake_refuses_a_token_form_with_an_unknown_field(fake_runai: FakeRunai) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        fake_runai.url + "/api/v2/token",
        data=b"grant_type=client_credentials&clientId=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 400 and b"clientId" in caught.value.read()


def test_a_retry_adopts_its_own_workload_and_never_duplicates(fake_runai: FakeRunai) -> None:
    session = session_for(fake_runai)
    plan = plan_of(spec(), session.resolve("team-a"), owner="dag/deploy/run-1")
    first = step.submit(session, plan, step.claim(session, plan, if_exists="fail", log=LOG), LOG)
    existing = step.claim(session, plan, if_exists="fail", log=LOG)
    assert existing is not None and existing.workload_id == first.workload_id
    again = step.submit(session, plan, existing, LOG)
    assert (again.created, again.changed) == (False, False)
    assert len(fake_runai.named("llama")) == 1
    assert len(fake_runai.sent("POST", "/api/v1/workloads/inferences")) == 1


def test_a_create_whose_answer_was_lost_is_adopted_on_409(fake_runai: FakeRunai) -> None:
    session = session_for(fake_runai)
    plan = plan_of(spec(), session.resolve("team-a"), owner="dag/deploy/run-1")
    step.submit(session, plan, None, LOG)
    adopted = step.submit(session, plan, None, LOG)  # as if the first answer never came
    assert not adopted.created and len(fake_runai.named("llama")) == 1


def test_a_foreign_workload_of_that_name_is_a_name_taken_error(fake_runai: FakeRunai) -> None:
    fake_runai.add_foreign("llama", "4")
    session = session_for(fake_runai)
    plan = plan_of(spec(), session.resolve("team-a"), owner="dag/deploy/run-1")
    with pytest.raises(NameTakenError, match="submitted by ana@example.com.*not managed by this"):
        step.claim(session, plan, if_exists="update", log=LOG)


def test_another_tasks_workload_needs_if_exists_update(fake_runai: FakeRunai) -> None:
    session = session_for(fake_runai)
    target = session.resolve("team-a")
    step.submit(session, plan_of(spec(), target, owner="other/deploy/run-0"), None, LOG)
    plan = plan_of(spec(), target, owner="dag/deploy/run-1")
    with pytest.raises(NameTakenError, match="created by other/deploy/run-0.*if_exists='update'"):
        step.claim(session, plan, if_exists="fail", log=LOG)
    assert step.claim(session, plan, if_exists="update", log=LOG) is not None


def test_a_second_create_of_the_same_name_is_a_409(fake_runai: FakeRunai) -> None:
    session = session_for(fake_runai)
    plan = plan_of(spec(), session.resolve("team-a"))
    session.create(plan.body, plan.target)
    with pytest.raises(RunaiConflictError, match="409"):
        session.create(plan.body, plan.target)


def test_the_client_secret_is_sent_only_to_the_token_endpoint(fake_runai: FakeRunai) -> None:
    session = session_for(fake_runai)
    step.submit(session, plan_of(spec(), session.resolve("team-a")), None, LOG)
    carrying = {r.path for r in fake_runai.requests if CLIENT_SECRET in r.text()}
    assert carrying == {"/api/v2/token"}
    assert "RunaiClient(" in repr(session.client) and CLIENT_SECRET not in repr(session.client)
