# Targets that work on a fresh machine with only Python 3.10+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NAMESPACE ?= runai-team-a

.PHONY: install demo demo-clean test lint bench schema clean

install: $(STAMP)

# -qq: pip's own errors still show; setuptools' notes about editable installs do not.
$(STAMP): pyproject.toml
	@echo "[setup] installing the package, Airflow and the dev tools into $(VENV) (first run only)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet --quiet -e ".[dev]"
	@touch $(STAMP)

AIRFLOW_ENV := AIRFLOW_HOME=$(CURDIR)/.airflow_home AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False HFINFER_OUT_DIR=$(CURDIR)/out

# `make demo HFINFER_KUBECONFIG=~/.kube/config [NAMESPACE=team-a]` deploys for
# real through an Airflow connection made from that kubeconfig; without it, dry run.
# (A dedicated variable, not KUBECONFIG: a kubeconfig in the shell must not turn a
# demo into a deployment by surprise.)
ifneq ($(strip $(HFINFER_KUBECONFIG)),)
DEMO_KUBECONFIG := $(abspath $(patsubst ~/%,$(HOME)/%,$(HFINFER_KUBECONFIG)))
ifeq ($(wildcard $(DEMO_KUBECONFIG)),)
$(error HFINFER_KUBECONFIG: no file at $(DEMO_KUBECONFIG))
endif
DEMO_CLUSTER := HFINFER_KUBE_CONN=hfinfer_demo \
	AIRFLOW_CONN_HFINFER_DEMO='{"conn_type": "kubernetes", "extra": {"kube_config_path": "$(DEMO_KUBECONFIG)"}}'
DEMO_MODE := deploying with $(DEMO_KUBECONFIG) to namespace $(NAMESPACE)
else
DEMO_CLUSTER :=
DEMO_MODE := dry run (no HFINFER_KUBECONFIG given)
endif

EXAMPLE_OUT := out/every-field-example.llama3-8b-chat.yaml
DAG_OUT := out/hfinfer_post_training_deploy.llama3-8b-chat.yaml

# Each step prints one line; the two plans are labelled with where their workload comes from.
demo: $(STAMP)
	@mkdir -p out
	@printf '[1/4] validate the every-field example: '
	@$(BIN)/hfinfer validate examples/workload.yaml | head -1
	@$(BIN)/hfinfer render examples/workload.yaml --namespace $(NAMESPACE) \
		--options examples/cluster-options.yaml --plan > $(EXAMPLE_OUT) 2> out/every-field-example.plan
	@echo "[2/4] render it: manifests (secrets redacted) in $(EXAMPLE_OUT)"
	@echo "--- plan 1 of 2: the every-field example, examples/workload.yaml (2 GPUs, latency scaling, groups access) ---"
	@cat out/every-field-example.plan
	@$(AIRFLOW_ENV) $(BIN)/airflow db migrate > out/airflow-db.log 2>&1 \
		|| { tail -20 out/airflow-db.log; exit 1; }
	@echo "[3/4] local Airflow metadata DB (SQLite in .airflow_home): ready"
	@echo "[4/4] run the example DAG hfinfer_post_training_deploy with airflow dags test: $(DEMO_MODE)"
	@$(AIRFLOW_ENV) HFINFER_NAMESPACE=$(NAMESPACE) $(DEMO_CLUSTER) \
		$(BIN)/airflow dags test hfinfer_post_training_deploy > out/dag-test.log 2>&1 \
		|| { tail -40 out/dag-test.log; exit 1; }
	@echo "--- plan 2 of 2: the DAG's own workload, WORKLOAD in dags/hfinfer_post_training_deploy.py ---"
	@awk '/Plan for workload/ {p = 1; sub(/^.*\] /, ""); print; next} \
		p && /^[0-9][0-9][0-9][0-9]-/ {p = 0} p {sub(/ \[airflow\.task.*$$/, ""); print}' \
		out/dag-test.log
	@echo "--- what the DAG's steps did ---"
	@grep -oE "(dry run: would|marked (Completed|Failed)|prompts answered) .*" out/dag-test.log \
		| sed 's/ \[airflow.task.*//'
	@grep -E "^(endpoint|dry run|smoke test answer):" out/dag-test.log
	@grep -q "DagRun Finished.*state=success" out/dag-test.log && echo "example DAG run: success (full log: out/dag-test.log)"

# Delete what `make demo HFINFER_KUBECONFIG=...` deployed (otherwise its 30-minute TTL
# ends it at the next hfinfer_ttl_cleanup run).
demo-clean: $(STAMP)
	@test -n "$(DEMO_CLUSTER)" || { echo "demo-clean needs HFINFER_KUBECONFIG"; exit 1; }
	$(AIRFLOW_ENV) $(DEMO_CLUSTER) AIRFLOW__LOGGING__LOGGING_LEVEL=ERROR $(BIN)/python -c \
		"from airflow_provider_hfinfer.operators import HFInferenceDeleteOperator as D; \
		print('deleted:', D(task_id='demo_clean', name='llama3-8b-chat', namespace='$(NAMESPACE)', \
		kubernetes_conn_id='hfinfer_demo').execute({}) or 'nothing')"

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check airflow_provider_hfinfer
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# The published JSON Schema of the workload spec (tests check it is current).
schema: $(STAMP)
	mkdir -p schema
	$(BIN)/hfinfer schema > schema/inference-workload.schema.json

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
