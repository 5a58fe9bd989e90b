"""Batch inference, then teardown: serve a model just for one batch of prompts.

``load_prompts`` splits the prompts into chunks (from the file named by
``HFINFER_PROMPTS_FILE``, one prompt per line, or a built-in sample).
``deploy`` is an Airflow *setup* task and ``teardown`` its *teardown* task:
the workload is deleted when the batch ends, whether it succeeded or failed,
and a failed teardown does not hide the batch's own outcome. ``infer`` is
mapped over the chunks (one task instance per chunk, retried on its own); each
sends its prompts to ``/v1/completions`` in requests of ``batch_size`` prompts,
several at once, which vLLM schedules together on the GPU. ``collect`` writes
every answer, in prompt order, to ``out/batch-results.jsonl`` and returns the
token count and latency figures.

Without a cluster (``HFINFER_KUBE_CONN`` unset) every step is a dry run that
logs what it would do. Set ``HFINFER_KUBE_CONN`` to the id of an Airflow
Kubernetes connection (and ``HFINFER_NAMESPACE``) to run for real; the model
is public, so no Hugging Face token is needed. Parsing this file touches no
connection and no network. Every answer passes through XCom: for very large
batches, write answers to your storage in a task of your own (the hook and
``airflow_provider_hfinfer.serving.completions`` are public) and keep XCom small.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_hfinfer.operators import (
    HFInferenceCreateOperator,
    HFInferenceDeleteOperator,
    HFInferenceRequestOperator,
)
from airflow_provider_hfinfer.sensors import InferenceReadySensor

KUBE_CONN = os.environ.get("HFINFER_KUBE_CONN")
NAMESPACE = os.environ.get("HFINFER_NAMESPACE", "runai-team-a")
DRY_RUN = KUBE_CONN is None
OUT_DIR = Path(os.environ.get("HFINFER_OUT_DIR", "out"))
PROMPTS_FILE = os.environ.get("HFINFER_PROMPTS_FILE")
CHUNK_SIZE = 32
NAME = "qwen-batch"

SAMPLE_PROMPTS = [
    "Summarize in one sentence: the quarterly report shows revenue up 12%.",
    "Translate to French: the model is ready.",
    "Classify the sentiment (positive/negative): the support team was great.",
    "Extract the city: our office moved to Lyon last spring.",
]

WORKLOAD = {
    "name": NAME,
    "model": {"id": "Qwen/Qwen2.5-7B-Instruct", "served_name": NAME},
    "hf_access": {"type": "none"},
    "compute": {"gpus": 1, "gpu_memory": "40Gi", "cpu": "8", "memory": "32Gi"},
    # Fixed size for the batch: no autoscaler, no scale-to-zero.
    "replicas": {"min": 2, "max": 2},
    "node_pools": ["a100-pool", "default"],
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "labels": {"team": "ml-platform", "purpose": "batch"},
    "vllm": {"max_model_len": 4096},
}
CLUSTER = {"kubernetes_conn_id": KUBE_CONN or "kubernetes_default", "dry_run": DRY_RUN}

with DAG(
    dag_id="hfinfer_batch_inference",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    # One batch at a time: the workload name is fixed.
    max_active_runs=1,
    tags=["hfinfer", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def load_prompts() -> list[list[str]]:
        """The prompts, in chunks of CHUNK_SIZE (one mapped ``infer`` task per chunk)."""
        if PROMPTS_FILE:
            lines = Path(PROMPTS_FILE).read_text(encoding="utf-8").splitlines()
            prompts = [line for line in lines if line.strip()]
        else:
            prompts = SAMPLE_PROMPTS
        return [prompts[i : i + CHUNK_SIZE] for i in range(0, len(prompts), CHUNK_SIZE)]

    chunks = load_prompts()

    deploy = HFInferenceCreateOperator(
        task_id="deploy",
        workload=WORKLOAD,
        namespace=NAMESPACE,
        preflight="warn" if DRY_RUN else "strict",
        # A deployment that never got ready is removed, not kept for a TTL.
        on_failure="delete",
        **CLUSTER,
    )

    wait_ready = InferenceReadySensor(
        task_id="wait_ready",
        workload_xcom=deploy.output,
        verify_endpoint="proxy",
        deferrable=not DRY_RUN,
        timeout=1800,
        **CLUSTER,
    )

    infer = HFInferenceRequestOperator.partial(
        task_id="infer",
        workload_xcom=deploy.output,
        max_tokens=128,
        batch_size=8,
        max_concurrency=4,
        retries=2,
        retry_delay=timedelta(seconds=30),
        **CLUSTER,
    ).expand(prompts=chunks)

    @task
    def collect(
        chunks: Sequence[Sequence[str]], results: Sequence[dict[str, Any]]
    ) -> dict[str, Any]:
        """Write every answer, in prompt order, to out/batch-results.jsonl; return the figures."""
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        target = OUT_DIR / "batch-results.jsonl"
        offset = 0
        completion_tokens = 0
        p50s: list[float] = []
        with target.open("w", encoding="utf-8") as out:
            for chunk, result in zip(chunks, results, strict=True):
                for answer in result.get("completions") or []:
                    index = offset + int(answer["index"])
                    record = {"index": index, "prompt": chunk[int(answer["index"])], **answer}
                    record["index"] = index
                    out.write(json.dumps(record) + "\n")
                offset += len(chunk)
                completion_tokens += int((result.get("usage") or {}).get("completion_tokens", 0))
                p50 = (result.get("latency_ms") or {}).get("p50")
                if p50 is not None:
                    p50s.append(float(p50))
        summary = {
            "prompts": offset,
            "completion_tokens": completion_tokens,
            "median_request_ms": sorted(p50s)[len(p50s) // 2] if p50s else None,
            "results": str(target),
        }
        print(f"batch: {json.dumps(summary)}")
        return summary

    teardown = HFInferenceDeleteOperator(
        task_id="teardown", name=NAME, namespace=NAMESPACE, **CLUSTER
    ).as_teardown(setups=deploy)

    chunks >> deploy >> wait_ready >> infer
    collect(chunks, infer.output) >> teardown
