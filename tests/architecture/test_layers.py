"""The layering holds: pure layers import no client, nothing below Airflow imports Airflow.

Reads every module of the package as source (no import), collects the modules it
imports at run time (module level and inside functions; ``if TYPE_CHECKING:``
blocks excepted) and checks the one direction of imports the README's
"Architecture" section draws, and that no two modules import each other in a
circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "airflow_provider_hfinfer"
PACKAGE = PACKAGE_DIR.name

CLIENTS = ("kubernetes", "kubernetes_asyncio", "aiohttp", "urllib3", "huggingface_hub")
AIRFLOW = ("airflow",)
AIRFLOW_LAYER = tuple(
    f"{PACKAGE}.{name}" for name in ("hooks", "operators", "sensors", "triggers", "links", "ui")
)
RUNAI_PURE = tuple(
    f"runai.{name}"
    for name in ("body", "credential", "fields", "rules", "status", "plan", "errors", "requests")
)
"""The Run:ai backend's pure modules: the request mapping, its rules, status, errors."""
RUNAI_IO = tuple(
    f"{PACKAGE}.runai.{name}" for name in ("client", "session", "apply", "objects", "tokens")
)
"""The Run:ai backend's I/O modules (HTTP through one client)."""
PURE_LAYERS = ("spec", "render", "status", *RUNAI_PURE)
"""No I/O at all: neither a client nor the kube layer nor Airflow."""
BELOW_AIRFLOW = ("spec", "render", "status", "deploy", "checks", "kube", "serving", "runai")
PURE_UI_MODULES = ("ui.rows", "ui.detail")
"""The Workloads page's table and detail builders: pure, though their package is Airflow's."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str) -> Iterator[str]:
    """Absolute names of the modules ``tree`` imports at run time."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (name for child in node.orelse for name in _imports(child, module))
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                if not (PACKAGE_DIR / Path(*anchor[1:]) / "__init__.py").exists():
                    anchor = anchor[:-1]  # a plain module: relative to its package
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            for alias in node.names:  # `from pkg import submodule`
                candidate = f"{base}.{alias.name}"
                if _exists(candidate):
                    yield candidate
        yield from _imports(node, module)


def _exists(module: str) -> bool:
    if not module.startswith(PACKAGE):
        return False
    rel = Path(*module.split(".")[1:])
    return (PACKAGE_DIR / rel).with_suffix(".py").exists() or (PACKAGE_DIR / rel).is_dir()


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = set(_imports(tree, module))
    return graph


GRAPH = _graph()


def _in(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(f"{prefix}.") for prefix in prefixes)


def _layer_modules(layers: tuple[str, ...]) -> list[str]:
    prefixes = tuple(f"{PACKAGE}.{layer}" for layer in layers)
    return sorted(module for module in GRAPH if _in(module, prefixes))


def test_the_graph_covers_the_package() -> None:
    assert f"{PACKAGE}.deploy.plan" in GRAPH and f"{PACKAGE}.operators.create" in GRAPH
    assert f"{PACKAGE}.kube.watch" in GRAPH["airflow_provider_hfinfer.triggers.readiness"]


@pytest.mark.parametrize("module", _layer_modules(PURE_LAYERS))
def test_pure_layers_import_no_client_no_kube_layer_and_no_airflow(module: str) -> None:
    forbidden = (*CLIENTS, *AIRFLOW, f"{PACKAGE}.kube", *AIRFLOW_LAYER)
    bad = sorted(name for name in GRAPH[module] if _in(name, forbidden))
    assert bad == [], f"{module} (a pure layer) imports {bad}"


@pytest.mark.parametrize("module", _layer_modules(PURE_UI_MODULES))
def test_the_pages_builders_do_no_io(module: str) -> None:
    io = ("kube.client", "kube.aclient", "kube.watch", "kube.shared", "hooks", "ui.listing")
    forbidden = (*CLIENTS, *AIRFLOW, "fastapi", *(f"{PACKAGE}.{name}" for name in io))
    bad = sorted(name for name in GRAPH[module] if _in(name, forbidden))
    assert bad == [], f"{module} (pure) imports {bad}"


def test_the_page_plugin_imports_no_fastapi_at_module_level() -> None:
    tree = ast.parse((PACKAGE_DIR / "ui" / "plugin.py").read_text(encoding="utf-8"))
    top = {
        alias.name if isinstance(node, ast.Import) else (node.module or "")
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert not any(_in(name, ("fastapi", f"{PACKAGE}.ui.app")) for name in top), top


@pytest.mark.parametrize("module", _layer_modules(RUNAI_PURE))
def test_the_runai_mapping_sends_nothing(module: str) -> None:
    bad = sorted(
        name for name in GRAPH[module] if _in(name, (*RUNAI_IO, "urllib.request", "http.client"))
    )
    assert bad == [], f"{module} (pure Run:ai mapping) imports {bad}"


@pytest.mark.parametrize("module", _layer_modules(("runai",)))
def test_the_runai_backend_uses_no_kubernetes_client(module: str) -> None:
    bad = sorted(name for name in GRAPH[module] if _in(name, (*CLIENTS, f"{PACKAGE}.kube")))
    assert bad == [], f"{module} imports {bad}"


@pytest.mark.parametrize("module", _layer_modules(BELOW_AIRFLOW))
def test_nothing_below_the_airflow_layer_imports_airflow(module: str) -> None:
    bad = sorted(name for name in GRAPH[module] if _in(name, (*AIRFLOW, *AIRFLOW_LAYER)))
    assert bad == [], f"{module} imports the Airflow layer: {bad}"


@pytest.mark.parametrize("module", _layer_modules(("deploy", "checks", "serving")))
def test_deploy_checks_and_serving_reach_the_cluster_only_through_the_kube_layer(
    module: str,
) -> None:
    bad = sorted(name for name in GRAPH[module] if _in(name, ("kubernetes", "kubernetes_asyncio")))
    assert bad == [], f"{module} imports a Kubernetes client directly: {bad}"


def test_no_import_circle() -> None:
    ours = {module: {name for name in names if name in GRAPH} for module, names in GRAPH.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(ours[module]):
            if target == module or any(target == p for p in _parents(module)):
                continue  # a package importing its own submodule, or a module its package
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (circle := visit(target)):
                return circle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(ours):
        if module not in state and (circle := visit(module)):
            pytest.fail("import circle: " + " -> ".join(circle))


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def test_no_loose_domain_module_at_the_package_root() -> None:
    loose = sorted(
        path.name
        for path in PACKAGE_DIR.glob("*.py")
        if path.name not in ("__init__.py", "exceptions.py", "cli.py")
    )
    assert loose == [], f"modules belong to a layer, not the package root: {loose}"


def test_operators_hold_one_operator_per_module() -> None:
    for path in sorted((PACKAGE_DIR / "operators").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        operators = [
            node.name
            for node in tree.body
            if isinstance(node, ast.ClassDef) and node.name.endswith("Operator")
        ]
        assert len(operators) <= 1, f"{path.name} defines {operators}"


def test_no_module_is_over_450_lines() -> None:
    big = {
        str(path.relative_to(PACKAGE_DIR)): count
        for path in PACKAGE_DIR.rglob("*.py")
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert big == {}, f"split these by concern: {big}"
