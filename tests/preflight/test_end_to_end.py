"""Issue 6 end to end: every pre-flight case says the same thing from the operator and the CLI.

The operator runs through ``dag.test()`` with ``preflight="strict"`` against the fake
Hub, and must fail (at once, without retries) before it sends a single request to
the fake Kubernetes API server; ``hfinfer check`` must print the same finding.
"""

from __future__ import annotations

import io
import re
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow_fixtures import task_instance

from airflow_provider_hfinfer.checks.preflight import clear_cache
from airflow_provider_hfinfer.cli import main
from airflow_provider_hfinfer.operators import HFInferenceCreateOperator

from .fake_hub import NO_ACCESS_TOKEN, FakeHub

NS = "team-a"
H100 = {"gpus": 1, "gpu_memory": "80Gi"}
UNSET_TOKEN_ENV = "HFINFER_E2E_TOKEN_THAT_IS_NOT_SET"


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _workload(model: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": "llama", "model": model, "compute": H100, **fields}


FAILING = [
    pytest.param(
        _workload({"id": "google/gemma-3-1b-it"}),
        "architecture_unsupported",
        "architecture Gemma3ForCausalLM of google/gemma-3-1b-it is not supported by vLLM "
        "0.6.4; closest supported: GemmaForCausalLM, Gemma2ForCausalLM",
        id="unsupported-architecture",
    ),
    pytest.param(
        _workload({"id": "ibm-fms/llama3-8b-accelerator"}),
        "speculative_draft_only",
        "MLPSpeculatorPreTrainedModel is a speculative-decoding draft architecture: vLLM 0.6.4 "
        "runs it only beside a target model (--speculative-model) and cannot serve it on its own",
        id="speculative-draft",
    ),
    pytest.param(
        _workload({"id": "BAAI/bge-base-en-v1.5"}, vllm={"task": "generate"}),
        "task_unsupported",
        "BertModel is embedding-only in vLLM 0.6.4 (embedding): set task to 'embedding' or 'auto'",
        id="embedding-model-asked-to-generate",
    ),
    pytest.param(
        _workload(
            {"id": "meta-llama/Llama-3.1-8B"},
            hf_access={"type": "token", "token": NO_ACCESS_TOKEN},
        ),
        "access_denied",
        "the token lacks access to meta-llama/Llama-3.1-8B: the model is gated and the token's "
        "account is not on its authorized list; request access at {hub}/meta-llama/Llama-3.1-8B",
        id="gated-403-without-access",
    ),
    pytest.param(
        _workload({"id": "meta-llama/Llama-3.1-8B"}),
        "token_required",
        "no token was given: the model meta-llama/Llama-3.1-8B is gated; set hf_access to a "
        "token whose account has been granted access",
        id="gated-401-no-token",
    ),
    pytest.param(
        _workload({"id": "acme/does-not-exist"}),
        "model_not_found",
        "model acme/does-not-exist was not found at {hub}, or it is private and no token was "
        "given: check the model id",
        id="model-404",
    ),
    pytest.param(
        _workload({"id": "unsloth/Meta-Llama-3.1-8B", "revision": "v9"}),
        "revision_not_found",
        "revision 'v9' of model unsloth/Meta-Llama-3.1-8B was not found at {hub}: use an "
        "existing branch, tag or commit hash",
        id="revision-404",
    ),
    pytest.param(
        _workload({"id": "unsloth/Meta-Llama-3.1-70B"}),
        "insufficient_gpu_memory",
        "unsloth/Meta-Llama-3.1-70B does not fit: its weights need about 131.4 GiB plus 2.0 "
        "GiB overhead, but 1 x 80.0 GiB GPU at gpu_memory_utilization 0.9 give 72.0 GiB; use "
        "4 GPUs of this size",
        id="70b-on-one-80gb-gpu",
    ),
    pytest.param(
        _workload({"id": "unsloth/Meta-Llama-3.1-8B"}),
        "hub_unreachable",
        "could not reach the Hugging Face Hub at {hub}: ",
        id="hub-unreachable",
    ),
]


@pytest.fixture
def cluster(fake_kube: Any, fake_kube_conn_id: str) -> Any:
    fake_kube.create_namespace(NS)
    return fake_kube


def _endpoint(code: str, fake_hub: FakeHub) -> str:
    return _closed_port_url() if code == "hub_unreachable" else fake_hub.url


@pytest.fixture(autouse=True)
def _token_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_HF_E2E_TOKEN", NO_ACCESS_TOKEN)


def _templated(workload: dict[str, Any]) -> dict[str, Any]:
    """The workload as a DAG passes it: a literal token is refused in DAG code."""
    access = workload.get("hf_access") or {}
    if access.get("token") != NO_ACCESS_TOKEN:
        return workload
    return {**workload, "hf_access": {**access, "token": "{{ var.value.hf_e2e_token }}"}}


def _run_operator(run_task: Any, conn_id: str, workload: dict[str, Any], endpoint: str) -> Any:
    return run_task(
        lambda: HFInferenceCreateOperator(
            task_id="deploy",
            workload=_templated(workload),
            namespace=NS,
            kubernetes_conn_id=conn_id,
            preflight="strict",
            hf_endpoint=endpoint,
            retries=3,
            retry_delay=timedelta(0),
        )
    )


def _run_cli(tmp_path: Path, workload: dict[str, Any], endpoint: str) -> tuple[int, str]:
    spec = tmp_path / "workload.yaml"
    spec.write_text(yaml.safe_dump(workload), encoding="utf-8")
    out = io.StringIO()
    # The spec says how the workload gets its token; no token may come from the machine.
    argv = ["check", str(spec), "--endpoint", endpoint, "--token-env", UNSET_TOKEN_ENV]
    code = main([*argv, "--timeout", "2"], out=out)
    return code, out.getvalue()


@pytest.mark.parametrize(("workload", "code", "message"), FAILING)
def test_each_failure_reads_the_same_from_operator_and_cli_before_any_kube_request(
    cluster: Any,
    fake_kube_conn_id: str,
    fake_hub: FakeHub,
    run_task: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    workload: dict[str, Any],
    code: str,
    message: str,
) -> None:
    endpoint = _endpoint(code, fake_hub)
    finding = f"[{code}] " + message.format(hub=endpoint)

    run = _run_operator(run_task, fake_kube_conn_id, workload, endpoint)

    captured = capsys.readouterr()
    operator_output = captured.out + captured.err + caplog.text
    assert run.state == "failed", operator_output[-3000:]
    assert finding in operator_output
    assert f"pre-flight check of {workload['model']['id']}" in operator_output
    # Nothing reached the cluster: the check runs before the first Kubernetes request.
    assert cluster.requests.all() == []
    # A pre-flight error fails the task at once: no retry can fix the model.
    ti = task_instance(run, "deploy")
    assert (ti.state, ti.try_number) == ("failed", 1)

    clear_cache()
    exit_code, stdout = _run_cli(tmp_path, workload, endpoint)

    stderr = capsys.readouterr().err
    assert (exit_code, stdout) == (1, "")
    assert finding in stderr
    cli_line = next(line for line in stderr.splitlines() if f"[{code}]" in line)
    # The same finding, word for word, in both places.
    assert re.sub(r"^.*?- ", "", cli_line) in operator_output
    assert cluster.requests.all() == []


PASSING = [
    pytest.param(
        _workload({"id": "unsloth/Meta-Llama-3.1-8B"}),
        "LlamaForCausalLM is supported by vLLM 0.6.4",
        "it will serve task 'generate'",
        id="supported-causal-lm",
    ),
    pytest.param(
        _workload({"id": "BAAI/bge-base-en-v1.5"}),
        "BertModel is supported by vLLM 0.6.4",
        "it will serve task 'embedding'",
        id="embedding-model-serves-embeddings",
    ),
]


@pytest.mark.parametrize(("workload", "supported", "task"), PASSING)
def test_a_servable_model_passes_in_both_and_the_operator_deploys_it(
    cluster: Any,
    fake_kube_conn_id: str,
    fake_hub: FakeHub,
    run_task: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    workload: dict[str, Any],
    supported: str,
    task: str,
) -> None:
    run = _run_operator(run_task, fake_kube_conn_id, workload, fake_hub.url)

    captured = capsys.readouterr()
    operator_output = captured.out + captured.err + caplog.text
    assert run.state == "success", operator_output[-3000:]
    assert "0 error(s)" in operator_output and supported in operator_output
    assert task in operator_output and "[ok] fits:" in operator_output
    assert fake_hub.count == 2
    assert cluster.get_object("apps/v1", "deployments", NS, "llama") is not None

    clear_cache()
    exit_code, stdout = _run_cli(tmp_path, workload, fake_hub.url)

    assert exit_code == 0
    assert "0 error(s)" in stdout and supported in stdout and task in stdout


def test_a_token_in_an_existing_secret_is_read_first_and_nothing_else(
    cluster: Any,
    fake_kube_conn_id: str,
    fake_hub: FakeHub,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The one Kubernetes request a failing pre-flight may make: reading the token it checks."""
    import base64

    cluster.put_object(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hf-credentials", "namespace": NS},
            "data": {"HF_TOKEN": base64.b64encode(NO_ACCESS_TOKEN.encode()).decode()},
        }
    )
    workload = _workload(
        {"id": "meta-llama/Llama-3.1-8B"},
        hf_access={"type": "existing_secret", "secret_name": "hf-credentials"},
    )

    run = _run_operator(run_task, fake_kube_conn_id, workload, fake_hub.url)

    captured = capsys.readouterr()
    output = captured.out + captured.err + caplog.text
    assert run.state == "failed", output[-3000:]
    assert "[access_denied] the token lacks access to meta-llama/Llama-3.1-8B" in output
    assert NO_ACCESS_TOKEN not in output
    assert [(r.verb, r.path) for r in cluster.requests.all()] == [
        ("get", f"/api/v1/namespaces/{NS}/secrets/hf-credentials")
    ]
