"""The ``hfinfer`` command line: exit codes, one line per problem, redaction."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from airflow_provider_hfinfer.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "workload.yaml"
OPTIONS = REPO / "examples" / "cluster-options.yaml"


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue()


def test_validate_example_ok() -> None:
    code, out = run(["validate", str(EXAMPLE)])
    assert code == 0
    assert "ok" in out and "llama3-8b-chat" in out


def test_validate_bad_spec_prints_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: Bad_Name\nmodel: x/y\nreplicas: {min: 3, max: 2}\ncompute: {gpus: 0}\n")
    code, _ = run(["validate", str(spec)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 3
    assert any(line.startswith(f"{spec}: name:") and "DNS-1035" in line for line in err)
    assert any(
        "replicas.min (3) exceeds replicas.max (2): raise max or lower min" in line for line in err
    )
    assert any("compute.gpus (0)" in line for line in err)


def test_validate_unreadable_and_non_mapping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["validate", str(tmp_path / "missing.yaml")])[0] == 1
    assert "cannot read" in capsys.readouterr().err
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    assert run(["validate", str(listed)])[0] == 1
    assert "must be a mapping" in capsys.readouterr().err


def test_render_prints_valid_multi_document_yaml() -> None:
    code, out = run(["render", str(EXAMPLE), "-n", "team-a", "--options", str(OPTIONS)])
    assert code == 0
    kinds = [doc["kind"] for doc in yaml.safe_load_all(out)]
    assert kinds == [
        "RequestAuthentication",
        "AuthorizationPolicy",
        "Service",
        "Deployment",
        "ScaledObject",
    ]


def test_render_redacts_tokens_unless_asked(tmp_path: Path) -> None:
    spec = tmp_path / "tok.yaml"
    spec.write_text(
        "name: tok\nmodel: org/model\nhf_access: {type: token, token: hf_SECRETVALUE123}\n"
    )
    code, out = run(["render", str(spec), "-n", "team-a"])
    assert code == 0
    assert "hf_SECRETVALUE123" not in out
    assert "aGZfU0VDUkVUVkFMVUUxMjM" not in out  # nor its base64
    secret = next(doc for doc in yaml.safe_load_all(out) if doc["kind"] == "Secret")
    assert secret["data"] == {"HF_TOKEN": "<redacted>"}
    code, shown = run(["render", str(spec), "-n", "team-a", "--show-secrets"])
    assert "aGZfU0VDUkVUVkFMVUUxMjM" in shown


def test_render_plan_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["render", str(EXAMPLE), "-n", "team-a", "--options", str(OPTIONS), "--plan"])
    err = capsys.readouterr().err
    assert code == 0
    assert "Plan for workload 'llama3-8b-chat'" in err
    assert "a100-pool > h100-pool > default" in err
    assert "Plan for" not in out


def test_bad_option_and_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["render", str(EXAMPLE), "-n", "team-a", "--set", "no_such_option=1"])[0] == 1
    assert "options: no_such_option" in capsys.readouterr().err
    assert run(["render", str(EXAMPLE), "-n", "Team_A", "--options", str(OPTIONS)])[0] == 1
    assert "namespace ('Team_A')" in capsys.readouterr().err


def test_schema_is_json_and_documents_fields() -> None:
    code, out = run(["schema"])
    schema = json.loads(out)
    assert code == 0
    assert {"name", "model", "compute", "replicas", "autoscaling"} <= set(schema["properties"])


def test_render_without_issuer_names_the_cli_flags_not_airflow_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _ = run(["render", str(EXAMPLE), "-n", "team-a"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines() == [
        f"{EXAMPLE}: endpoint_access needs the cluster's JWT issuer for non-public access: "
        "pass --options FILE with jwt_issuer: URL (and optionally jwks_uri) in it, "
        "or --set jwt_issuer=URL (see examples/cluster-options.yaml)"
    ]
    code, out = run(["render", str(EXAMPLE), "-n", "team-a", "--set", "jwt_issuer=https://i.x"])
    assert code == 0 and "issuer: https://i.x" in out


def test_validate_of_a_non_public_spec_says_rendering_needs_the_issuer() -> None:
    code, out = run(["validate", str(EXAMPLE)])
    assert code == 0
    assert "--options FILE" in out and "jwt_issuer" in out


def test_check_offline_names_the_network_once_and_what_it_could_not_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    code, out = run(["check", str(EXAMPLE), "--endpoint", closed, "--timeout", "2"])
    err = capsys.readouterr().err
    assert (code, out) == (1, "")
    assert err.count("could not reach the Hugging Face Hub") == 1
    assert f"asking the Hugging Face Hub at {closed}" in err
    assert "not checked (needs the Hub): vLLM 0.6.4 support" in err
    assert "--mode warn" in err and "preflight mode" not in err
    assert "check the network" in err and "compute settings" not in err

    code, out = run(["check", str(EXAMPLE), "--endpoint", closed, "--mode", "warn"])
    capsys.readouterr()
    assert code == 0
    assert "[warning] hub_unreachable" in out and "not checked (needs the Hub)" in out
