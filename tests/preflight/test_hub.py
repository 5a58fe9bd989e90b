"""Hub access: the requests sent, the cache, and the errors a user sees."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hfinfer.checks.preflight import HubAccessError
from airflow_provider_hfinfer.checks.preflight.hub import fetch_model, resolve_endpoint

from .fake_hub import (
    GRANTED_TOKEN,
    LLAMA_8B_CONFIG,
    LLAMA_8B_PARAMS,
    NO_ACCESS_TOKEN,
    FakeHub,
)

LLAMA = "unsloth/Meta-Llama-3.1-8B"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _closed_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_one_check_is_two_gets_model_info_then_config(fake_hub: FakeHub) -> None:
    fetched = fetch_model(LLAMA)

    assert fetched.requests == 2
    assert [(r.method, r.path) for r in fake_hub.requests] == [
        ("GET", f"/api/models/{LLAMA}"),
        ("GET", f"/{LLAMA}/resolve/{'a' * 40}/config.json"),
    ]
    assert fake_hub.requests[0].query["expand"] == ["safetensors", "gated", "private", "sha"]
    model = fetched.model
    assert (model.sha, model.gated, model.private) == ("a" * 40, None, False)
    assert dict(model.parameters) == {"BF16": LLAMA_8B_PARAMS}
    assert dict(model.config) == LLAMA_8B_CONFIG


def test_revision_is_asked_for_and_config_is_pinned_to_its_commit(fake_hub: FakeHub) -> None:
    fetched = fetch_model(LLAMA, revision="v1.0")

    assert fetched.model.sha == "b" * 40
    assert [r.path for r in fake_hub.requests] == [
        f"/api/models/{LLAMA}/revision/v1.0",
        f"/{LLAMA}/resolve/{'b' * 40}/config.json",
    ]


def test_second_check_is_served_from_the_cache(fake_hub: FakeHub) -> None:
    first = fetch_model(LLAMA)
    second = fetch_model(LLAMA)

    assert (second.requests, fake_hub.count) == (0, 2)
    assert second.model is first.model


@pytest.mark.parametrize(
    "other",
    [
        {"revision": "v1.0"},
        {"token": GRANTED_TOKEN},
    ],
)
def test_cache_is_per_revision_and_token(fake_hub: FakeHub, other: dict[str, Any]) -> None:
    fetch_model(LLAMA)
    fetched = fetch_model(LLAMA, **other)

    assert (fetched.requests, fake_hub.count) == (2, 4)


def test_failures_are_not_cached(fake_hub: FakeHub) -> None:
    for _ in range(2):
        with pytest.raises(HubAccessError):
            fetch_model("meta-llama/Llama-3.1-8B")

    assert fake_hub.count == 4


def test_explicit_endpoint_wins_over_hf_endpoint(
    fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_loopback_port()}")

    fetched = fetch_model(LLAMA, endpoint=fake_hub.url + "/")

    assert fetched.requests == 2
    assert resolve_endpoint(fake_hub.url + "/") == fake_hub.url


def test_hf_endpoint_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.internal/")
    assert resolve_endpoint() == "https://hub.example.internal"
    monkeypatch.delenv("HF_ENDPOINT")
    assert resolve_endpoint() == "https://huggingface.co"


def test_no_token_is_sent_when_none_is_given(fake_hub: FakeHub) -> None:
    # The fixture sets HF_TOKEN: a token on the machine must not be used implicitly.
    fetch_model(LLAMA)

    assert [r.authorization for r in fake_hub.requests] == [None, None]


def test_given_token_is_sent_as_bearer(fake_hub: FakeHub) -> None:
    fetch_model(LLAMA, token=GRANTED_TOKEN)

    assert {r.authorization for r in fake_hub.requests} == {f"Bearer {GRANTED_TOKEN}"}


def test_gated_model_with_a_granted_token(fake_hub: FakeHub) -> None:
    fetched = fetch_model("meta-llama/Llama-3.1-8B", token=GRANTED_TOKEN)

    assert fetched.model.gated == "manual"
    assert fetched.model.config["architectures"] == ["LlamaForCausalLM"]


@pytest.mark.parametrize(
    ("model_id", "token", "revision", "code", "message"),
    [
        (
            "meta-llama/Llama-3.1-8B",
            None,
            None,
            "token_required",
            r"^no token was given: the model meta-llama/Llama-3\.1-8B is gated; set hf_access ",
        ),
        (
            "meta-llama/Llama-3.1-8B",
            NO_ACCESS_TOKEN,
            None,
            "access_denied",
            r"^the token lacks access to meta-llama/Llama-3\.1-8B: the model is gated",
        ),
        (
            "acme/private-llama",
            None,
            None,
            "model_not_found",
            r"^model acme/private-llama was not found at .*, or it is private and no token",
        ),
        (
            "acme/private-llama",
            NO_ACCESS_TOKEN,
            None,
            "model_not_found",
            r"or the token lacks access to it \(private repository\)",
        ),
        (
            "acme/does-not-exist",
            GRANTED_TOKEN,
            None,
            "model_not_found",
            r"^model acme/does-not-exist was not found at http://127\.0\.0\.1:\d+, ",
        ),
        (
            LLAMA,
            None,
            "no-such-branch",
            "revision_not_found",
            r"^revision 'no-such-branch' of model unsloth/Meta-Llama-3\.1-8B was not found",
        ),
        (
            LLAMA,
            "hf_notAValidToken000000000000000000",
            None,
            "token_rejected",
            r"^the token was rejected by http://127\.0\.0\.1:\d+ \(invalid credentials\)",
        ),
        (
            "TheBloke/Llama-2-7B-GGUF",
            None,
            None,
            "config_not_found",
            r"^model TheBloke/Llama-2-7B-GGUF has no config\.json",
        ),
    ],
)
def test_hub_errors_are_translated(
    fake_hub: FakeHub,
    model_id: str,
    token: str | None,
    revision: str | None,
    code: str,
    message: str,
) -> None:
    with pytest.raises(HubAccessError, match=message) as caught:
        fetch_model(model_id, token=token, revision=revision)

    assert caught.value.code == code
    assert 1 <= caught.value.requests <= 2
    assert token is None or token not in str(caught.value)


def test_unreachable_hub_is_reported_at_once(fake_hub: FakeHub) -> None:
    endpoint = f"http://127.0.0.1:{_closed_loopback_port()}"
    started = time.monotonic()

    with pytest.raises(HubAccessError) as caught:
        fetch_model(LLAMA, endpoint=endpoint, token=GRANTED_TOKEN)

    assert time.monotonic() - started < 2
    assert caught.value.code == "hub_unreachable"
    message = str(caught.value)
    assert message.startswith(f"could not reach the Hugging Face Hub at {endpoint}: ConnectError")
    assert "preflight" not in message  # the interface in use adds how to skip the check
    assert GRANTED_TOKEN not in message


def test_slow_hub_times_out_within_the_bound(fake_hub: FakeHub) -> None:
    started = time.monotonic()

    with pytest.raises(HubAccessError) as caught:
        fetch_model("acme/slow-model", timeout=0.3)

    assert time.monotonic() - started < 1.5
    assert str(caught.value) == (
        f"could not reach the Hugging Face Hub at {fake_hub.url}: no answer within 0.3 s "
        "(ReadTimeout)"
    )


def test_offline_mode_is_reported_without_a_request(
    fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)

    with pytest.raises(HubAccessError, match=r"offline mode is enabled \(HF_HUB_OFFLINE\)"):
        fetch_model(LLAMA)
    assert fake_hub.count == 0


def _run_fresh(script: str, fake_hub: FakeHub, tmp_path: Path) -> list[tuple[str, str]]:
    """Run ``script`` in a new interpreter against the fake; return the requests it made."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HF_") and key not in ("HUGGINGFACE_HUB_CACHE",)
    }
    env.update({"HF_ENDPOINT": fake_hub.url, "HF_HOME": str(tmp_path), "NO_PROXY": "127.0.0.1"})
    subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        timeout=60,
    )
    return [(r.method, r.path) for r in fake_hub.requests]


def test_a_fresh_process_sends_exactly_two_requests(fake_hub: FakeHub, tmp_path: Path) -> None:
    script = f"""
        from airflow_provider_hfinfer.checks.preflight.hub import fetch_model
        fetch_model({LLAMA!r})
        fetch_model({LLAMA!r})
    """

    assert _run_fresh(script, fake_hub, tmp_path) == [
        ("GET", f"/api/models/{LLAMA}"),
        ("GET", f"/{LLAMA}/resolve/{'a' * 40}/config.json"),
    ]
    assert list(tmp_path.iterdir()) == []  # nothing written to the HF cache


def test_library_helpers_would_send_more_requests(fake_hub: FakeHub, tmp_path: Path) -> None:
    """Why hub.py does not call HfApi.model_info or hf_hub_download (huggingface_hub 2.4)."""
    script = f"""
        from huggingface_hub import HfApi, hf_hub_download
        HfApi().model_info({LLAMA!r}, expand=["safetensors", "gated", "private", "sha"],
                           token=False)
        hf_hub_download({LLAMA!r}, "config.json", token=False)
    """

    requests = _run_fresh(script, fake_hub, tmp_path)

    assert ("GET", "/api/agent-harnesses") in requests  # telemetry fetched by build_hf_headers
    assert ("HEAD", f"/{LLAMA}/resolve/main/config.json") in requests
    assert len(requests) > 2
    assert json.loads(json.dumps(requests))  # plain data, printable on failure
