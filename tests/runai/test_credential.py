"""The credential an inline token becomes, as pure data: name, marker, request, plan."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fakerunai import FakeRunai
from fakerunai.schema import GENERIC_SECRET_CREATION_REQUEST, problems

from airflow_provider_hfinfer.runai.credential import (
    REDACTED,
    credential_name,
    is_ours,
    marker,
    plan_credential,
    secret_name_of,
)
from airflow_provider_hfinfer.runai.plan import describe
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.names import CREDENTIAL_ANNOTATION

from .builders import TARGET, plan_of, spec

TOKEN = "hf_PureCredentialTokenValue0123456"
OTHER = "hf_PureCredentialTokenValue6543210"
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def inline(token: str = TOKEN, **changes: Any) -> InferenceWorkload:
    return InferenceWorkload.parse(spec(hf_access={"type": "token", "token": token}, **changes))


def test_the_name_is_deterministic_and_changes_with_token_project_and_workload() -> None:
    name = credential_name(inline(), "team-a", TOKEN)
    assert name == credential_name(inline(), "team-a", TOKEN)
    assert re.fullmatch(r"llama-hf-token-[0-9a-f]{8}", name)
    assert name != credential_name(inline(OTHER), "team-a", OTHER)
    assert name != credential_name(inline(), "team-b", TOKEN)
    assert name != credential_name(inline(name="mistral"), "team-a", TOKEN)
    assert TOKEN not in name and TOKEN[3:11] not in name


@pytest.mark.parametrize(
    ("changes", "prefix"),
    [
        ({"name": "a" * 46}, ("a" * 46 + "-hf-token")[:54] + "-"),
        (
            {"hf_access": {"type": "new_secret", "secret_name": "hf.creds", "value": TOKEN}},
            "hf-creds-",
        ),
        (
            {"hf_access": {"type": "new_secret", "secret_name": "s" * 200, "value": TOKEN}},
            "s" * 54,
        ),
    ],
)
def test_the_name_is_a_dns_label_of_at_most_63_characters(
    changes: dict[str, Any], prefix: str
) -> None:
    workload = InferenceWorkload.parse(
        spec(**{"hf_access": {"type": "token", "token": TOKEN}, **changes})
    )
    name = credential_name(workload, "team-a", TOKEN)
    assert len(name) <= 63 and DNS_LABEL.fullmatch(name) and name.startswith(prefix)


def test_the_request_has_the_published_fields_and_the_token_only_in_its_value() -> None:
    credential = plan_credential(inline(), "team-a", "4")
    assert credential is not None
    body = credential.body
    assert problems(GENERIC_SECRET_CREATION_REQUEST, body) == []
    assert body["meta"]["projectId"] == 4 and body["meta"]["scope"] == "project"
    assert body["meta"]["description"] == marker("llama")
    assert body["spec"] == {"keyValuePairs": [{"key": "HF_TOKEN", "value": TOKEN}]}
    assert TOKEN not in repr(credential)
    redacted = credential.redacted()
    assert redacted["spec"]["keyValuePairs"] == [{"key": "HF_TOKEN", "value": REDACTED}]
    assert TOKEN not in json.dumps(redacted) and body["spec"]["keyValuePairs"][0]["value"] == TOKEN


def test_new_secret_keeps_its_key() -> None:
    access = {"type": "new_secret", "secret_name": "hf-creds", "key": "TOKEN", "value": TOKEN}
    credential = plan_credential(InferenceWorkload.parse(spec(hf_access=access)), "team-a", "4")
    assert credential is not None and credential.ref.key == "TOKEN"
    assert credential.body["spec"]["keyValuePairs"][0]["key"] == "TOKEN"


def test_an_existing_secret_or_no_token_plans_no_credential() -> None:
    assert plan_credential(InferenceWorkload.parse(spec()), "team-a", "4") is None
    assert (
        plan_credential(InferenceWorkload.parse(spec(hf_access={"type": "none"})), "a", "4") is None
    )


def test_the_marker_tells_ours_from_another_workloads_or_a_foreign_one() -> None:
    ours = {"meta": {"name": "x", "description": marker("llama")}}
    assert is_ours(ours, "llama")
    assert not is_ours(ours, "mistral")
    assert not is_ours({"meta": {"name": "x"}}, "llama")
    assert not is_ours({"meta": {"name": "x", "description": "team token"}}, "llama")


def test_the_kubernetes_name_is_read_from_cluster_info() -> None:
    assert secret_name_of({"clusterInfo": {"resources": [{"name": "cred-x"}]}}) == "cred-x"
    assert secret_name_of({"meta": {}}) is None


def test_the_plan_references_the_credential_and_records_its_name() -> None:
    plan = plan_of(spec(hf_access={"type": "token", "token": TOKEN}))
    assert plan.credential is not None and plan.token_ref == plan.credential.ref
    [variable] = [v for v in plan.spec["environmentVariables"] if v["name"] == "HF_TOKEN"]
    assert variable == {
        "name": "HF_TOKEN",
        "secret": {"name": plan.credential.name, "key": "HF_TOKEN"},
    }
    assert {"name": CREDENTIAL_ANNOTATION, "value": plan.credential.name} in plan.spec[
        "annotations"
    ]
    assert TOKEN not in json.dumps(plan.body) and TOKEN not in repr(plan)
    assert f"HF_TOKEN from Run:ai credential {plan.credential.name}" in describe(plan)
    again = plan.with_secret("cred-" + plan.credential.name)
    assert (
        again.spec["environmentVariables"][-1]["secret"]["name"] == "cred-" + plan.credential.name
    )
    assert again.spec_hash == plan.spec_hash and again.credential == plan.credential


def test_a_rotated_token_is_a_new_spec_hash_the_same_token_is_not() -> None:
    first = plan_of(spec(hf_access={"type": "token", "token": TOKEN}))
    same = plan_of(spec(hf_access={"type": "token", "token": TOKEN}))
    rotated = plan_of(spec(hf_access={"type": "token", "token": OTHER}))
    assert first.spec_hash == same.spec_hash != rotated.spec_hash
    assert TOKEN not in first.spec_hash


def test_a_recorded_spec_with_a_masked_token_needs_the_credential_it_used() -> None:
    from airflow_provider_hfinfer.render.options import RenderOptions
    from airflow_provider_hfinfer.render.records import spec_from_record, spec_record
    from airflow_provider_hfinfer.runai.plan import prepare

    recorded = spec_from_record(spec_record(inline()))
    assert recorded is not None and recorded.inline_token() == "**********"
    with pytest.raises(ValueError, match="token masked"):
        prepare(recorded, TARGET, RenderOptions())
    live = plan_of(spec(hf_access={"type": "token", "token": TOKEN}))
    back = prepare(recorded, TARGET, RenderOptions(), token_ref=live.token_ref)
    assert back.credential is None and back.spec_hash == live.spec_hash
    assert back.spec["environmentVariables"] == live.spec["environmentVariables"]


@pytest.mark.parametrize(
    ("mutate", "said"),
    [
        (lambda b: b["meta"].update(projectId="4"), "meta.projectId: '4' is not of type 'integer'"),
        (
            lambda b: b["meta"].update(kind="secret"),
            "Additional properties are not allowed ('kind'",
        ),
        (lambda b: b["spec"].update(value="x"), "Additional properties are not allowed ('value'"),
        (lambda b: b["meta"].pop("scope"), "'scope' is a required property"),
        (lambda b: b["spec"]["keyValuePairs"][0].pop("key"), "'key' is a required property"),
    ],
)
def test_the_fake_refuses_an_unknown_or_mistyped_credential_field_with_400(
    fake_runai: FakeRunai, mutate: Any, said: str
) -> None:
    from .test_client import session_for

    session = session_for(fake_runai)
    credential = plan_credential(inline(), "team-a", "4")
    assert credential is not None
    mutate(credential.body)
    from airflow_provider_hfinfer.exceptions import RunaiInvalidRequestError

    with pytest.raises(RunaiInvalidRequestError, match=re.escape(said)):
        session.create_credential(credential.body, session.resolve("team-a"))
    assert fake_runai.credentials.items == {}


def test_the_fake_refuses_a_workload_whose_secret_does_not_exist(fake_runai: FakeRunai) -> None:
    from airflow_provider_hfinfer.exceptions import RunaiInvalidRequestError

    from .test_client import session_for

    session = session_for(fake_runai)
    plan = plan_of(spec(hf_access={"type": "token", "token": TOKEN}), session.resolve("team-a"))
    with pytest.raises(RunaiInvalidRequestError, match="no secret 'llama-hf-token-"):
        session.create(plan.body, plan.target)  # the credential was never created
