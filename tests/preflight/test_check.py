"""The pre-flight rules and modes, as a user running a check sees them."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from airflow_provider_hfinfer.checks.preflight import (
    HubModel,
    PreflightError,
    PreflightReport,
    PreflightRequest,
    evaluate,
    run_preflight,
)
from airflow_provider_hfinfer.checks.preflight.memory import GIB

from .fake_hub import (
    GRANTED_TOKEN,
    LLAMA_8B_CONFIG,
    LLAMA_8B_PARAMS,
    NO_ACCESS_TOKEN,
    FakeHub,
)

LLAMA_8B = "unsloth/Meta-Llama-3.1-8B"
LLAMA_70B = "unsloth/Meta-Llama-3.1-70B"
H100 = 80 * GIB
L4 = 24 * GIB


def _request(model_id: str, **fields: Any) -> PreflightRequest:
    return PreflightRequest(model_id=model_id, **fields)


def _codes(report: PreflightReport) -> list[tuple[str, str]]:
    return [(finding.level, finding.code) for finding in report.findings]


def _only_error(report: PreflightReport) -> str:
    assert len(report.errors) == 1, report.summary()
    return report.errors[0].message


# -- a model that is fine --------------------------------------------------------------------


def test_llama_8b_on_one_h100_passes_with_its_facts(fake_hub: FakeHub) -> None:
    report = run_preflight(_request(LLAMA_8B, gpus=1, gpu_memory_bytes=H100))

    assert _codes(report) == [("ok", "architecture_supported"), ("ok", "fits")]
    assert report.passed
    assert (report.architecture, report.task, report.task_flag_required) == (
        "LlamaForCausalLM",
        "generate",
        False,
    )
    assert report.weight_bytes == 2 * LLAMA_8B_PARAMS
    assert report.kv_cache_bytes_per_token == 128 * 1024
    assert (report.max_model_len, report.fits, report.hub_requests) == (131072, True, 2)
    assert report.sha == "a" * 40
    assert report.findings[1].message == (
        "unsloth/Meta-Llama-3.1-8B fits: about 33.0 GiB needed (15.0 GiB weights, 16.0 GiB KV "
        "cache for 131072 tokens, 2.0 GiB overhead) and 1 x 80.0 GiB GPU at "
        "gpu_memory_utilization 0.9 give 72.0 GiB"
    )


def test_at_most_two_requests_per_check_and_none_when_cached(fake_hub: FakeHub) -> None:
    first = run_preflight(_request(LLAMA_8B, gpu_memory_bytes=H100))
    second = run_preflight(_request(LLAMA_8B, gpus=2, gpu_memory_bytes=L4))

    assert (first.hub_requests, second.hub_requests, fake_hub.count) == (2, 0, 2)


def test_fit_check_is_skipped_without_gpu_memory(fake_hub: FakeHub) -> None:
    report = run_preflight(_request(LLAMA_8B))

    assert report.fits is None
    assert _codes(report)[-1] == ("warning", "fit_skipped")
    assert "the GPU memory fit check was skipped" in report.warnings[0].message


# -- GPU memory fit --------------------------------------------------------------------------


def test_70b_on_one_h100_fails_with_figures_and_suggestions(fake_hub: FakeHub) -> None:
    with pytest.raises(PreflightError) as caught:
        run_preflight(_request(LLAMA_70B, gpus=1, gpu_memory_bytes=H100))

    report = caught.value.report
    assert report.fits is False
    assert _only_error(report) == (
        "unsloth/Meta-Llama-3.1-70B does not fit: its weights need about 131.4 GiB plus 2.0 GiB "
        "overhead, but 1 x 80.0 GiB GPU at gpu_memory_utilization 0.9 give 72.0 GiB; use 4 GPUs "
        "of this size (they fit the weights and the KV cache for 131072 tokens); or 2 GPUs with "
        "max_model_len set to 27648 or less; or use a quantized variant (4-bit AWQ/GPTQ weights "
        "take about 32.9 GiB)"
    )


def test_70b_fits_four_h100s(fake_hub: FakeHub) -> None:
    report = run_preflight(_request(LLAMA_70B, gpus=4, gpu_memory_bytes=H100))

    assert report.fits is True
    assert report.required_bytes is not None and report.available_bytes is not None
    assert report.required_bytes <= report.available_bytes


def test_70b_on_two_h100s_asks_for_a_shorter_context(fake_hub: FakeHub) -> None:
    with pytest.raises(PreflightError) as caught:
        run_preflight(_request(LLAMA_70B, gpus=2, gpu_memory_bytes=H100))

    assert caught.value.report.errors[0].code == "kv_cache_too_small"
    message = _only_error(caught.value.report)
    assert "the KV cache for 131072 tokens needs 40.0 GiB (320 KiB per token)" in message
    assert message.endswith(
        "set max_model_len to 27648 or less, or use 4 GPUs, or raise gpu_memory_utilization"
    )
    # Following the advice makes the check pass.
    fixed = run_preflight(_request(LLAMA_70B, gpus=2, gpu_memory_bytes=H100, max_model_len=27648))
    assert fixed.fits is True


def test_8b_on_a_24gib_gpu_needs_a_shorter_context(fake_hub: FakeHub) -> None:
    report = run_preflight(_request(LLAMA_8B, gpu_memory_bytes=L4), mode="warn")

    assert report.fits is False
    assert "set max_model_len to 37888 or less" in report.warnings[0].message


def test_max_model_len_beyond_the_model_is_an_error(fake_hub: FakeHub) -> None:
    report = run_preflight(_request(LLAMA_8B, max_model_len=200_000), mode="warn")

    assert report.warnings[0].code == "max_model_len_too_long"
    assert report.warnings[0].message == (
        "max_model_len (200000) exceeds the 131072 tokens unsloth/Meta-Llama-3.1-8B supports: "
        "vLLM 0.6.4 refuses to start; set max_model_len to 131072 or less"
    )


def test_config_shape_is_used_when_the_hub_has_no_safetensors_counts(fake_hub: FakeHub) -> None:
    report = run_preflight(_request("acme/opt-125m-bin-only", gpu_memory_bytes=L4))

    assert report.fits is True
    assert report.weight_bytes is not None
    assert 200_000_000 < report.weight_bytes < 300_000_000  # ~125M params at FP16


# -- architecture and task -------------------------------------------------------------------


def test_bert_embedding_model_resolves_to_embedding(fake_hub: FakeHub) -> None:
    report = run_preflight(_request("BAAI/bge-base-en-v1.5", gpu_memory_bytes=L4))

    assert (report.architecture, report.task, report.task_flag_required) == (
        "BertModel",
        "embedding",
        False,
    )
    assert report.fits is True


def test_qwen2_embedding_model_needs_the_task_flag(fake_hub: FakeHub) -> None:
    report = run_preflight(_request("Alibaba-NLP/gte-Qwen2-1.5B-instruct", task="embedding"))

    assert (report.task, report.task_flag_required) == ("embedding", True)
    assert "(vLLM needs --task embedding for it)" in report.findings[0].message


def test_embedding_only_architecture_cannot_generate(fake_hub: FakeHub) -> None:
    with pytest.raises(PreflightError) as caught:
        run_preflight(_request("BAAI/bge-base-en-v1.5", task="generate"))

    assert _only_error(caught.value.report) == (
        "BertModel is embedding-only in vLLM 0.6.4 (embedding): set task to 'embedding' or 'auto'"
    )


def test_unsupported_architecture_names_the_closest_supported(fake_hub: FakeHub) -> None:
    with pytest.raises(PreflightError) as caught:
        run_preflight(_request("google/gemma-3-1b-it"))

    message = _only_error(caught.value.report)
    assert message.startswith(
        "architecture Gemma3ForCausalLM of google/gemma-3-1b-it is not supported by vLLM 0.6.4; "
        "closest supported: GemmaForCausalLM, Gemma2ForCausalLM"
    )
    assert caught.value.report.architecture is None


def test_speculative_draft_model_is_rejected_with_the_reason(fake_hub: FakeHub) -> None:
    with pytest.raises(PreflightError) as caught:
        run_preflight(_request("ibm-fms/llama3-8b-accelerator"))

    assert caught.value.report.errors[0].code == "speculative_draft_only"
    assert "cannot serve it on its own" in _only_error(caught.value.report)


def test_config_without_architectures_is_an_error(fake_hub: FakeHub) -> None:
    with pytest.raises(PreflightError, match=r"\[architecture_missing\] config\.json of acme/"):
        run_preflight(_request("acme/no-architectures"))


def _model(config: dict[str, Any]) -> HubModel:
    return HubModel(
        model_id="acme/model",
        revision=None,
        sha="0" * 40,
        gated=None,
        private=False,
        parameters={"BF16": 1_000_000},
        total_parameters=1_000_000,
        config=config,
    )


@pytest.mark.parametrize(
    ("architectures", "task", "outcome"),
    [
        (["LlamaForCausalLM"], "auto", "generate"),
        (["LlamaForCausalLM"], "embedding", "embedding"),
        (["MistralModel"], "auto", "embedding"),
        (["Qwen2ForRewardModel"], "embedding", "embedding"),
        (["LlavaForConditionalGeneration"], "generate", "generate"),
        (["MixtralForCausalLM"], "embedding", "task_unsupported"),
        (["MedusaModel"], "auto", "speculative_draft_only"),
        (["EAGLEModel"], "auto", "speculative_draft_only"),
        (["T5ForConditionalGeneration"], "auto", "architecture_unsupported"),
        (["MadeUpForCausalLM", "LlamaForCausalLM"], "auto", "generate"),
        ([], "auto", "architecture_missing"),
        ("LlamaForCausalLM", "auto", "architecture_missing"),
    ],
)
def test_architecture_and_task_table(architectures: Any, task: str, outcome: str) -> None:
    config = {**LLAMA_8B_CONFIG, "architectures": architectures}
    report = evaluate(_request("acme/model", task=task), _model(config))

    if outcome in ("generate", "embedding"):
        assert (report.task, report.errors) == (outcome, [])
    else:
        assert [finding.code for finding in report.errors] == [outcome]


# -- modes -----------------------------------------------------------------------------------


def test_strict_mode_raises_with_the_report_attached(fake_hub: FakeHub) -> None:
    with pytest.raises(PreflightError) as caught:
        run_preflight(_request("meta-llama/Llama-3.1-8B"))

    error = caught.value
    assert isinstance(error, ValueError)
    assert error.report.errors[0].code == "token_required"
    assert str(error).splitlines() == [
        "pre-flight check of meta-llama/Llama-3.1-8B failed with 1 error(s):",
        f"  - [token_required] no token was given: the model meta-llama/Llama-3.1-8B is gated; "
        f"set hf_access to a token whose account has been granted access (request it at "
        f"{fake_hub.url}/meta-llama/Llama-3.1-8B)",
        "Fix the model id, revision or Hugging Face token; or pass preflight='warn' to deploy "
        "anyway.",
    ]


def test_warn_mode_downgrades_errors_and_returns(fake_hub: FakeHub) -> None:
    report = run_preflight(_request("meta-llama/Llama-3.1-8B", token=NO_ACCESS_TOKEN), mode="warn")

    assert report.passed
    assert _codes(report) == [("warning", "access_denied")]
    assert report.warnings[0].message.startswith(
        "the token lacks access to meta-llama/Llama-3.1-8B"
    )


def test_off_mode_makes_no_request(fake_hub: FakeHub) -> None:
    report = run_preflight(_request("meta-llama/Llama-3.1-8B"), mode="off")

    assert fake_hub.count == 0
    assert (report.skipped, report.fits, report.hub_requests) == (True, None, 0)
    assert _codes(report) == [("warning", "preflight_skipped")]


def test_unknown_mode_is_refused(fake_hub: FakeHub) -> None:
    with pytest.raises(ValueError, match=r"preflight mode \('lenient'\) must be one of"):
        run_preflight(_request(LLAMA_8B), mode="lenient")  # type: ignore[arg-type]
    assert fake_hub.count == 0


def test_unreachable_hub_in_warn_mode_says_so(
    fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")

    report = run_preflight(_request(LLAMA_8B), mode="warn", timeout=1)

    assert report.warnings[0].message.startswith(
        f"could not reach the Hugging Face Hub at http://127.0.0.1:{port}: "
    )


# -- the token -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["strict", "warn"])
@pytest.mark.parametrize(
    ("model_id", "token"),
    [
        ("meta-llama/Llama-3.1-8B", GRANTED_TOKEN),
        ("meta-llama/Llama-3.1-8B", NO_ACCESS_TOKEN),
        ("acme/private-llama", NO_ACCESS_TOKEN),
        (LLAMA_8B, "hf_rejectedToken0000000000000000000"),
        ("acme/slow-model", GRANTED_TOKEN),
    ],
)
def test_token_never_appears_in_messages_or_logs(
    fake_hub: FakeHub,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    model_id: str,
    token: str,
) -> None:
    import huggingface_hub.constants

    # The library's most verbose request logging (curl lines with headers).
    monkeypatch.setattr(huggingface_hub.constants, "HF_DEBUG", True)
    hub_logger = logging.getLogger("huggingface_hub")
    hub_logger.addHandler(caplog.handler)  # the library's logger does not propagate
    request = _request(model_id, token=token, gpu_memory_bytes=L4)
    seen: list[str] = [repr(request), str(request)]
    try:
        with caplog.at_level(logging.DEBUG):
            hub_logger.setLevel(logging.DEBUG)
            try:
                report = run_preflight(request, mode=mode, timeout=0.3)  # type: ignore[arg-type]
                seen += [report.summary(), report.model_dump_json()]
            except PreflightError as error:
                seen += [str(error), repr(error), error.report.model_dump_json()]
    finally:
        hub_logger.removeHandler(caplog.handler)

    seen += [record.getMessage() for record in caplog.records]
    assert caplog.records  # the check did log
    assert not [text for text in seen if token in text]


# -- the request model -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model_id": "not a repo id"}, r"model_id \('not a repo id'\) is not a Hugging Face"),
        ({"model_id": "a/b/c"}, r"use 'owner/name'"),
        ({"model_id": LLAMA_8B, "gpus": 0}, r"gpus\n.*greater than or equal to 1"),
        ({"model_id": LLAMA_8B, "gpu_memory_utilization": 1.5}, r"less than or equal to 1"),
        ({"model_id": LLAMA_8B, "task": "classify"}, r"'auto', 'generate' or 'embedding'"),
        ({"model_id": LLAMA_8B, "cluster": "x"}, r"Extra inputs are not permitted"),
    ],
)
def test_request_validation(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PreflightRequest(**fields)


def test_request_is_frozen_and_hides_the_token() -> None:
    request = _request(LLAMA_8B, token=GRANTED_TOKEN)

    assert GRANTED_TOKEN not in repr(request)
    with pytest.raises(ValidationError):
        request.gpus = 2  # type: ignore[misc]


def test_importing_the_package_imports_no_http_client() -> None:
    code = (
        "import sys, airflow_provider_hfinfer.checks.preflight\n"
        "print(sorted(m for m in ('huggingface_hub', 'httpx', 'httpx2') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert out.stdout.strip() == "[]"


def test_preflight_error_survives_pickling(fake_hub: FakeHub) -> None:
    import pickle

    with pytest.raises(PreflightError) as caught:
        run_preflight(_request("acme/no-architectures"))

    copy = pickle.loads(pickle.dumps(caught.value))
    assert str(copy) == str(caught.value)
    assert copy.report == caught.value.report
