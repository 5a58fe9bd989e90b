"""The Workloads page: every inference workload of the chosen clusters, in the Airflow UI.

The package owns the Airflow UI plugin (:mod:`.plugin`), its FastAPI app
(:mod:`.app`), the pure table and detail builders (:mod:`.rows`,
:mod:`.detail`) and the thin cluster I/O they read from (:mod:`.listing`).
Importing it imports neither FastAPI nor a Kubernetes client.
"""
