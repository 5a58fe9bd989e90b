"""The prewarm Job: download the model into the cache PVC once, before replicas start.

This module owns the ``batch/v1`` Job that fills a ``cache.prewarm`` workload's
model cache: the same vLLM image (it ships ``huggingface_hub``), the token
from the same Secret, the claim mounted read-write at the replicas' ``HF_HOME``,
and a short script that downloads the model at the pinned revision with
``huggingface_hub.snapshot_download``, prints its progress in bytes, and writes
a completion record, so that a later Job for the same model and revision finds
the snapshot complete and exits without a download. It also owns which files a
warm cache holds (:func:`cache_files`, used by pre-flight to size the claim) and
the Job's owner: the workload's Deployment, so that deleting the workload deletes
the Job. Pure: the Deployment's uid comes in as an argument.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_hfinfer.render import metadata as md
from airflow_provider_hfinfer.render.context import Stamp
from airflow_provider_hfinfer.render.deployment import (
    CACHE_MOUNT,
    HF_HOME,
    image_pull_policy,
    token_env,
)
from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.names import (
    COMPONENT_LABEL,
    INSTANCE_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    PREWARM_LABEL,
    PREWARM_OF_ANNOTATION,
)

CONTAINER = "prewarm"
COMPONENT = "model-cache-prewarm"
REPORT_SECONDS = 10
"""The script reports the bytes downloaded this often."""

IGNORED_FILES: tuple[str, ...] = (
    "original/*",
    "*.pth",
    "*.pt",
    "*.gguf",
    "*.msgpack",
    "*.h5",
    "*.onnx",
    "*.ot",
    "flax_model*",
    "tf_model*",
    "rust_model*",
)
"""Files vLLM 0.6.4 never loads from a transformers repository (other formats and
Meta's ``original/`` consolidated checkpoint); ``*.bin`` is skipped too when the
repository has ``*.safetensors``, which vLLM then prefers."""

# Runs in the vLLM image (python3, huggingface_hub). Every line it prints starts with
# "hfinfer-prewarm:" so the cold-start model can read the progress out of the log.
SCRIPT = r"""
import fnmatch, json, os, sys, threading
from pathlib import Path
from huggingface_hub import HfApi, snapshot_download

repo, rev = os.environ["HFINFER_MODEL"], os.environ["HFINFER_REVISION"]
ignore = json.loads(os.environ["HFINFER_IGNORE"])
every = float(os.environ.get("HFINFER_REPORT_SECONDS", "10"))
home = Path(os.environ["HF_HOME"])
record = home / "hfinfer-prewarm" / (repo.replace("/", "--") + "@" + rev + ".json")

def say(text):
    print("hfinfer-prewarm: " + text, flush=True)

if record.is_file():
    done = json.loads(record.read_text())
    snapshot = Path(done["path"])
    if all((snapshot / name).is_file() for name in done["files"]):
        say(f"cache complete: {len(done['files'])} files of {repo}@{rev} already in {snapshot}")
        sys.exit(0)
info = HfApi().model_info(repo, revision=rev, files_metadata=True)
names = [s.rfilename for s in info.siblings]
if any(name.endswith(".safetensors") for name in names):
    ignore = ignore + ["*.bin"]
files = [s for s in info.siblings if not any(fnmatch.fnmatch(s.rfilename, p) for p in ignore)]
total = sum(s.size or 0 for s in files)
say(f"downloading {len(files)} files, {total} bytes, of {repo}@{rev} ({info.sha})")
blobs = home / "hub" / ("models--" + repo.replace("/", "--")) / "blobs"
stop = threading.Event()

def report():
    while not stop.wait(every):
        found = blobs.glob("*") if blobs.is_dir() else []
        have = sum(p.stat().st_size for p in found if p.is_file())
        say(f"downloaded {min(have, total)} of {total} bytes")

threading.Thread(target=report, daemon=True).start()
path = snapshot_download(repo, revision=rev, ignore_patterns=ignore)
stop.set()
say(f"downloaded {total} of {total} bytes")
record.parent.mkdir(parents=True, exist_ok=True)
kept = [s.rfilename for s in files]
record.write_text(json.dumps({"sha": info.sha, "path": path, "files": kept}))
say(f"download complete: {len(files)} files of {repo}@{rev} in {path}")
"""


def job_name(workload: InferenceWorkload) -> str:
    """The prewarm Job's name: one per workload, so a retry finds it again."""
    return f"{workload.name}-prewarm"


def prewarm_of(workload: InferenceWorkload) -> str:
    """What the Job downloads where, e.g. ``meta-llama/Llama-3.1-8B@0e9e... into hf-cache``."""
    return f"{workload.model.id}@{workload.model.revision} into {workload.cache.claim_name}"


def pod_labels(workload: InferenceWorkload) -> dict[str, str]:
    """The Job's pod labels (never the workload's pod selector: no traffic to the Job)."""
    return {
        MANAGED_BY_LABEL: MANAGED_BY,
        INSTANCE_LABEL: workload.name,
        COMPONENT_LABEL: COMPONENT,
        PREWARM_LABEL: workload.name,
    }


def cache_files(listing: Iterable[tuple[str, int | None]]) -> list[tuple[str, int]]:
    """The files of a Hub listing a warm cache holds, with their sizes (unknown: 0).

    The same rule as the Job's script: no other weight formats, and no ``*.bin``
    when the repository has ``*.safetensors``.
    """
    files = list(listing)
    ignore = list(IGNORED_FILES)
    if any(name.endswith(".safetensors") for name, _ in files):
        ignore.append("*.bin")
    return [
        (name, size or 0)
        for name, size in files
        if not any(fnmatch.fnmatch(name, pattern) for pattern in ignore)
    ]


def _env(workload: InferenceWorkload) -> list[dict[str, Any]]:
    import json

    return [
        {"name": "HF_HOME", "value": HF_HOME},
        {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
        {"name": "HFINFER_MODEL", "value": workload.model.id},
        {"name": "HFINFER_REVISION", "value": workload.model.revision or "main"},
        {"name": "HFINFER_IGNORE", "value": json.dumps(list(IGNORED_FILES))},
        {"name": "HFINFER_REPORT_SECONDS", "value": str(REPORT_SECONDS)},
        *token_env(workload),
    ]


def render_prewarm_job(
    workload: InferenceWorkload,
    namespace: str,
    options: RenderOptions,
    stamp: Stamp,
    owner: Mapping[str, str],
) -> dict[str, Any]:
    """Render the Job that fills the workload's model cache.

    Args:
        workload: A workload with ``cache.prewarm``.
        namespace: Its namespace.
        options: Cluster settings (the default image).
        stamp: The render's spec hash and context.
        owner: The workload's live Deployment (``apiVersion``, ``kind``, ``name``,
            ``uid``): it owns the Job, so deleting the workload deletes the Job.

    Returns:
        The Job manifest.
    """
    image = workload.vllm.image or options.default_image
    meta = md.object_meta(job_name(workload), namespace, workload, stamp)
    meta["labels"][COMPONENT_LABEL] = COMPONENT
    meta["annotations"][PREWARM_OF_ANNOTATION] = prewarm_of(workload)
    meta["ownerReferences"] = [
        {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["name"],
            "uid": owner["uid"],
            "blockOwnerDeletion": True,
        }
    ]
    container = {
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": image_pull_policy(image),
        "command": ["python3", "-c", SCRIPT],
        "env": _env(workload),
        "resources": {
            "requests": {"cpu": "1", "memory": "2Gi"},
            "limits": {"memory": "4Gi"},
        },
        "volumeMounts": [{"name": "model-cache", "mountPath": CACHE_MOUNT}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": 2,
            "activeDeadlineSeconds": 6 * 3600,
            "template": {
                "metadata": {"labels": pod_labels(workload)},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "model-cache",
                            "persistentVolumeClaim": {"claimName": workload.cache.claim_name},
                        }
                    ],
                    "enableServiceLinks": False,
                    "automountServiceAccountToken": False,
                },
            },
        },
    }
