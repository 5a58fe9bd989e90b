"""Shared pytest setup: an isolated Airflow home and the shared/ folder location."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Airflow reads AIRFLOW_HOME at import time: point it at a throwaway folder before
# any test imports airflow, so tests never touch a developer's real Airflow.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="hfinfer-airflow-home-"))
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

REPO_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
SHARED = REPO_ROOT.parent / "shared"

from fakekube.fixtures import fake_kube, fake_kube_conn_id, kube_api_client  # noqa: E402, F401
