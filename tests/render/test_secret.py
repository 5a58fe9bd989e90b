"""The token Secret: rendered only for a new token, and the only place the token appears."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml

from .builders import TOKEN, iter_strings, kinds, of_kind, one, render

B64_TOKEN = base64.b64encode(TOKEN.encode()).decode()

NEW_TOKEN_ACCESS = {
    "inline-token": {"type": "token", "token": TOKEN},
    "new-secret": {"type": "new_secret", "secret_name": "my-hf", "key": "token", "value": TOKEN},
}


def _everything(**fields: Any) -> list[dict[str, Any]]:
    """A workload using every object kind, so a leak anywhere is seen."""
    return render(
        endpoint_access={"mode": "groups", "groups": ["ml"]},
        replicas={"min": 1, "max": 3},
        autoscaling={"metric": "concurrency", "threshold": 4},
        annotations={"example.com/owner": "ml"},
        **fields,
    )


@pytest.mark.parametrize(
    ("access", "name", "key"),
    [
        (NEW_TOKEN_ACCESS["inline-token"], "llama3-8b-chat-hf-token", "HF_TOKEN"),
        (NEW_TOKEN_ACCESS["new-secret"], "my-hf", "token"),
    ],
    ids=list(NEW_TOKEN_ACCESS),
)
def test_a_new_token_becomes_one_opaque_secret(access: dict[str, str], name: str, key: str) -> None:
    secret = one(render(hf_access=access), "Secret")
    assert secret["metadata"]["name"] == name
    assert secret["type"] == "Opaque"
    assert secret["data"] == {key: B64_TOKEN}
    assert base64.b64decode(secret["data"][key]).decode() == TOKEN
    # stringData would be reported as drift on every server-side apply.
    assert "stringData" not in secret


@pytest.mark.parametrize(
    "access",
    [{"type": "none"}, {"type": "existing_secret", "secret_name": "hf-credentials"}],
    ids=["public-model", "existing-secret"],
)
def test_no_secret_is_rendered_without_a_new_token(access: dict[str, str]) -> None:
    assert not of_kind(render(hf_access=access), "Secret")


@pytest.mark.parametrize("access", list(NEW_TOKEN_ACCESS.values()), ids=list(NEW_TOKEN_ACCESS))
def test_token_is_in_no_object_but_the_secret(access: dict[str, str]) -> None:
    manifests = _everything(hf_access=access)
    assert len(kinds(manifests)) >= 5
    for manifest in manifests:
        if manifest["kind"] == "Secret":
            continue
        for text in iter_strings(manifest):
            assert TOKEN not in text, f"token leaked into {manifest['kind']}"
            assert B64_TOKEN not in text, f"encoded token leaked into {manifest['kind']}"


@pytest.mark.parametrize("access", list(NEW_TOKEN_ACCESS.values()), ids=list(NEW_TOKEN_ACCESS))
def test_token_is_only_in_the_secret_data(access: dict[str, str]) -> None:
    secret = one(_everything(hf_access=access), "Secret")
    outside_data = {key: value for key, value in secret.items() if key != "data"}
    assert TOKEN not in json.dumps(outside_data)
    assert B64_TOKEN not in json.dumps(outside_data)
    assert TOKEN not in yaml.safe_dump(secret)  # only the encoded form is written


def test_secret_is_labelled_like_the_workload_so_cleanup_finds_it() -> None:
    manifests = render(hf_access=NEW_TOKEN_ACCESS["inline-token"])
    secret, deployment = one(manifests, "Secret"), one(manifests, "Deployment")
    assert secret["metadata"]["labels"] == deployment["metadata"]["labels"]
    assert secret["metadata"]["namespace"] == deployment["metadata"]["namespace"]
