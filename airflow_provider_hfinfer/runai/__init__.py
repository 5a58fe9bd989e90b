"""The Run:ai backend: the same workload, submitted to NVIDIA Run:ai's REST API.

``body`` (the InferenceCreationRequest a spec becomes), ``fields`` (the table of
form field to request path), ``rules`` (what the API cannot express, refused
before any request), ``plan`` (one planned submission and its XCom result),
``status`` (a Run:ai workload as a ``WorkloadStatus``) and ``errors`` (answers
as exceptions) are pure. ``requests`` plans the HTTP calls, ``client`` sends
them (token, retries with backoff) and ``apply`` runs the steps a deploy takes
(claim the name, create, update, delete) through a hook-like object. Nothing
here imports Airflow or a Kubernetes client.
"""
