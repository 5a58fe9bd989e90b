"""The secret policy, enforced: a canary token appears in no sink but the Secret.

A DAG deploys against the fake cluster with tokens given every allowed way (a
templated ``hf_access.token``, a templated ``new_secret`` value through the update
operator, ``hf_conn_id``), plus a dry run and a task whose rendered spec is
invalid with a token pasted into a label. The canaries are generated at run
time, so not even this file's source (which Airflow stores as DAG code) holds
them. Then every sink is searched, for each canary and its base64 form:
stdout and stderr (task logs go there in ``dag.test()``), the log records, log
files, every column of every table of the metadata database (serialized DAG,
DAG code, rendered fields, XCom, task instances...), every object in the fake
cluster except the Secrets, ``hfinfer`` output and exception messages.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from airflow_provider_hfinfer.cli import main
from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.operators import HFInferenceCreateOperator, HFInferenceUpdateOperator
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.messages import describe_errors

NS = "canary"
MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def _canary() -> str:
    return "hf_" + secrets.token_hex(16)  # 32 letters and digits after hf_, as a real token


CANARIES = {name: _canary() for name in ("token", "new_secret", "conn", "misplaced")}


def _forms(token: str) -> list[str]:
    """The canary as it could leak: itself, base64 (Secret data), URL-safe base64."""
    raw = token.encode()
    return [
        token,
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]


def _leaks(text: str, where: str) -> list[str]:
    return [
        f"{where}: canary {name!r}"
        for name, token in CANARIES.items()
        if any(form in text for form in _forms(token))
    ]


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> None:
    # Connections from the environment, as a secrets backend would give them: the
    # metadata DB's connection table stays empty, so every row of it is fair game.
    for name, token in CANARIES.items():
        monkeypatch.setenv(
            f"AIRFLOW_CONN_HF_CANARY_{name.upper()}",
            json.dumps({"conn_type": "generic", "password": token}),
        )


def _spec(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "model": {"id": MODEL, "revision": "main"},
        "compute": {"gpus": 1, "cpu": "4", "memory": "32Gi"},
        **fields,
    }


def _tasks(conn_id: str) -> None:
    common: dict[str, Any] = {
        "namespace": NS,
        "kubernetes_conn_id": conn_id,
        "preflight": "off",
        "retries": 0,
    }
    HFInferenceCreateOperator(
        task_id="templated_token",
        workload=_spec(
            "canary-token",
            hf_access={"type": "token", "token": "{{ conn.hf_canary_token.password }}"},
        ),
        **common,
    )
    HFInferenceUpdateOperator(
        task_id="templated_new_secret",
        workload=_spec(
            "canary-update",
            hf_access={
                "type": "new_secret",
                "secret_name": "canary-hf-creds",
                "value": "{{ conn.hf_canary_new_secret.password }}",
            },
        ),
        wait_for_ready=False,
        rollback=False,
        **common,
    )
    HFInferenceCreateOperator(
        task_id="from_connection",
        workload=_spec("canary-conn"),
        hf_conn_id="hf_canary_conn",
        **common,
    )
    HFInferenceCreateOperator(
        task_id="dry_run",
        workload=_spec(
            "canary-dry",
            hf_access={"type": "token", "token": "{{ conn.hf_canary_token.password }}"},
        ),
        dry_run=True,
        **common,
    )
    HFInferenceCreateOperator(
        task_id="misplaced_token",  # rendered, the spec is invalid: the token is in a label
        workload=_spec(
            "canary-misplaced",
            labels={"team": "{{ conn.hf_canary_misplaced.password }}"},
        ),
        **common,
    )


def _database_text() -> Iterator[tuple[str, str]]:
    """``(table, text of every row)`` for every table of the metadata database."""
    from airflow.utils.session import create_session
    from sqlalchemy import inspect, text

    with create_session() as session:
        bind = session.get_bind()
        for table in inspect(bind).get_table_names():
            rows = session.execute(text(f'SELECT * FROM "{table}"')).fetchall()
            parts: list[str] = []
            for row in rows:
                for value in row:
                    if isinstance(value, (bytes, memoryview)):
                        raw = bytes(value)
                        try:
                            raw = zlib.decompress(raw)  # compressed serialized DAGs
                        except zlib.error:
                            pass
                        parts.append(raw.decode("utf-8", "replace"))
                    else:
                        parts.append(str(value))
            yield table, "\n".join(parts)


def _cluster_objects(fake: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    for res in fake.store.registry.all():
        for obj in fake.list_objects(res.group_version, res.plural):
            yield f"{obj.get('kind', res.kind)}/{obj['metadata']['name']}", obj


def test_no_sink_but_the_secret_sees_a_token(
    fake_kube: Any,
    fake_kube_conn_id: str,
    connections: None,
    run_task: Any,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow.configuration import conf

    fake_kube.create_namespace(NS)
    run = run_task(lambda: _tasks(fake_kube_conn_id))
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {
        "templated_token": "success",
        "templated_new_secret": "success",
        "from_connection": "success",
        "dry_run": "success",
        "misplaced_token": "failed",
    }
    leaks: list[str] = []

    # The Secrets hold the tokens (so the search below looks for the right strings) ...
    secrets_by_name = {
        name: obj for name, obj in _cluster_objects(fake_kube) if name.startswith("Secret/")
    }
    stored = json.dumps(list(secrets_by_name.values()))
    for name in ("token", "new_secret", "conn"):
        assert base64.b64encode(CANARIES[name].encode()).decode() in stored, name
    # ... and nothing else in the cluster does.
    for name, obj in _cluster_objects(fake_kube):
        if not name.startswith("Secret/"):
            leaks += _leaks(json.dumps(obj), f"cluster {name}")

    output = capfd.readouterr()
    leaks += _leaks(output.out, "stdout") + _leaks(output.err, "stderr")
    leaks += _leaks("\n".join(record.getMessage() for record in caplog.records), "log records")
    assert "misplaced_token" in output.out + caplog.text  # the task logs were captured

    seen_tables = set()
    for table, text in _database_text():
        seen_tables.add(table)
        leaks += _leaks(text, f"metadata DB table {table}")
    assert {"serialized_dag", "dag_code", "rendered_task_instance_fields", "xcom"} <= seen_tables
    assert {"task_instance", "dag_run"} <= seen_tables

    log_folder = Path(conf.get("logging", "base_log_folder"))
    for path in log_folder.rglob("*") if log_folder.is_dir() else ():
        if path.is_file():
            leaks += _leaks(path.read_text("utf-8", "replace"), f"log file {path.name}")

    assert leaks == []


def test_a_literal_token_in_dag_code_is_refused_without_echoing_it() -> None:
    token = CANARIES["token"]
    for workload in (
        _spec("x", hf_access={"type": "token", "token": token}),
        _spec("x", hf_access={"type": "new_secret", "secret_name": "s", "value": token}),
        yaml.safe_dump(_spec("x", hf_access={"type": "token", "token": token})),
        InferenceWorkload.parse(_spec("x", hf_access={"type": "token", "token": token})),
    ):
        with pytest.raises(SpecError, match="pass the token at run time") as caught:
            HFInferenceCreateOperator(task_id="t", workload=workload, namespace=NS)
        assert _leaks(str(caught.value), "refusal") == []
        assert "hf_conn_id" in str(caught.value) and "existing_secret" in str(caught.value)


MISPLACED: list[dict[str, Any]] = [
    {"labels": {"team": "{token}"}},
    {"labels": {"{token}": "x"}},
    {"annotations": {"example.com/note": "{token}"}},
    {"node_pools": ["{token}"]},
    {"node_type": "{token}"},
    {"hf_access": {"type": "existing_secret", "secret_name": "{token}"}},
    {"hf_access": {"type": "existing_secret", "secret_name": "s", "key": "{token}"}},
    {"{token}": 1},
    {"model": {"id": "org/model", "revision": "{token}"}},
    {"endpoint_access": {"mode": "users", "users": ["{token}"]}},
    {"vllm": {"extra_args": ["--api-key={token}"]}},
    {"vllm": {"extra_args": ["--chat-template={token}"]}},
    {"tolerations": [{"key": "k", "operator": "Equals", "value": "{token}"}]},
    {"hf_access": {"type": "token", "token": "{token} and more"}},
    {"name": "{token}"},
]


def _placed(fields: dict[str, Any], token: str) -> dict[str, Any]:
    return json.loads(
        json.dumps({"name": "x", "model": "org/model", **fields}).replace("{token}", token)
    )


@pytest.mark.parametrize("fields", MISPLACED, ids=lambda fields: json.dumps(fields)[:40])
def test_a_token_in_the_wrong_field_is_refused_without_echoing_it(
    fields: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _placed(fields, CANARIES["misplaced"])
    with pytest.raises((ValidationError, SpecError)) as caught:
        InferenceWorkload.parse(data)
    error = caught.value
    shown = [str(error), repr(error)]
    if isinstance(error, ValidationError):
        shown += [error.json(), repr(error.errors()), *describe_errors(error)]
    assert _leaks("\n".join(shown), "exception") == []
    spec = tmp_path / "workload.yaml"
    spec.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["validate", str(spec)], out=io.StringIO()) == 1
    captured = capsys.readouterr()
    assert _leaks(captured.out + captured.err, "hfinfer validate") == []


def test_hfinfer_render_and_plan_show_no_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "workload.yaml"
    token = CANARIES["token"]
    spec.write_text(
        yaml.safe_dump(_spec("canary-cli", hf_access={"type": "token", "token": token})),
        encoding="utf-8",
    )
    out = io.StringIO()
    assert main(["render", str(spec), "-n", NS, "--plan"], out=out) == 0
    printed = out.getvalue() + "".join(capsys.readouterr())
    assert "kind: Secret" in printed and "<redacted>" in printed
    assert _leaks(printed, "hfinfer render --plan") == []
    assert main(["validate", str(spec)], out=out) == 0
    assert _leaks(out.getvalue() + "".join(capsys.readouterr()), "hfinfer validate") == []
