"""The Secret holding the Hugging Face token, rendered only when one is new.

This module owns the one place a token value may appear in a manifest.
Existing secrets are referenced, never rendered.
"""

from __future__ import annotations

import base64
from typing import Any

from airflow_provider_hfinfer.render.context import Stamp
from airflow_provider_hfinfer.render.metadata import object_meta, secret_key, secret_name
from airflow_provider_hfinfer.spec import InferenceWorkload


def render_secret(
    workload: InferenceWorkload, namespace: str, stamp: Stamp
) -> dict[str, Any] | None:
    """Render the token Secret for ``token`` and ``new_secret`` access, else None.

    ``data`` (base64) is used rather than ``stringData`` because server-side apply
    compares ``data``; ``stringData`` would read as drift on every apply.
    """
    raw = workload.inline_token()
    name = secret_name(workload)
    if raw is None or name is None:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_meta(name, namespace, workload, stamp),
        "type": "Opaque",
        "data": {secret_key(workload): base64.b64encode(raw.encode()).decode()},
    }
