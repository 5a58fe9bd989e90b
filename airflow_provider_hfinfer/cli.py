"""The ``hfinfer`` command: validate, render and describe workloads without a cluster.

This module owns argument parsing and exit codes (0 ok, 1 invalid input,
2 usage). It prints manifests with secret values redacted unless asked.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from pydantic import ValidationError

from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.messages import describe_errors


class _InputError(Exception):
    """An input problem already formatted as lines for the user."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _read(path: str) -> str:
    """The text of a spec file (``-``: stdin) through the safe loader's size and encoding rules."""
    from airflow_provider_hfinfer.spec.loader import MAX_BYTES, decode_spec, read_spec_file

    if path == "-":
        return decode_spec(sys.stdin.buffer.read(MAX_BYTES + 1), "<stdin>")
    return read_spec_file(path)


def _load(path: str) -> InferenceWorkload:
    name = "<stdin>" if path == "-" else path
    try:
        return InferenceWorkload.from_yaml(_read(path), name)
    except ValidationError as err:
        raise _InputError([f"{name}: {line}" for line in describe_errors(err)]) from err
    except SpecError as err:
        # Loader errors name the file already; every spec error is one line.
        text = " ".join(str(err).split()) or type(err).__name__
        raise _InputError([text if text.startswith(f"{name}: ") else f"{name}: {text}"]) from err


def _options(args: argparse.Namespace) -> Any:
    from airflow_provider_hfinfer.render import RenderOptions
    from airflow_provider_hfinfer.spec.loader import load_document, read_spec_file

    values: dict[str, Any] = {}
    try:
        if args.options:
            loaded = load_document(read_spec_file(args.options), args.options)
            if loaded is not None and not isinstance(loaded, dict):
                problem = "cluster options must be a mapping of settings, e.g. jwt_issuer: ..."
                raise _InputError([f"{args.options}: {problem}"])
            values.update(loaded or {})
        for item in args.set or []:
            key, _, value = item.partition("=")
            values[key.strip()] = load_document(value, f"--set {key.strip()}")
    except SpecError as err:
        raise _InputError([" ".join(str(err).split())]) from err
    try:
        return RenderOptions.model_validate(values)
    except ValidationError as err:
        raise _InputError([f"options: {line}" for line in describe_errors(err)]) from err


def _cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    workload = _load(args.spec)
    print(f"{args.spec}: ok (workload {workload.name!r})", file=out)
    if workload.endpoint_access.mode != "public":
        # Valid as a spec, but `render` also needs a cluster setting: say so now.
        print(
            f"note: endpoint_access {workload.endpoint_access.mode!r} needs the cluster's JWT "
            "issuer to render: hfinfer render --options FILE (with jwt_issuer) or --set "
            "jwt_issuer=URL",
            file=out,
        )
    return 0


def _cli_words(err: SpecError) -> str:
    """A render error with its fix told in this command's flags (``--options``, ``--set``)."""
    from airflow_provider_hfinfer.exceptions import RenderError

    if not isinstance(err, RenderError) or not err.options:
        return str(err)
    first, *more = err.options
    also = f" (and optionally {', '.join(more)})" if more else ""
    return (
        f"{err.problem}: pass --options FILE with {first}: URL{also} in it, "
        f"or --set {first}=URL (see examples/cluster-options.yaml)"
    )


def _cmd_render(args: argparse.Namespace, out: TextIO) -> int:
    import yaml

    from airflow_provider_hfinfer.deploy.describe import describe_plan, redact_manifests
    from airflow_provider_hfinfer.render import render_manifests

    workload = _load(args.spec)
    try:
        manifests = render_manifests(workload, namespace=args.namespace, options=_options(args))
    except SpecError as err:
        raise _InputError([f"{args.spec}: {_cli_words(err)}"]) from err
    shown = manifests if args.show_secrets else redact_manifests(manifests)
    out.write(yaml.safe_dump_all(shown, sort_keys=False))
    if args.plan:
        print(describe_plan(workload, manifests, args.namespace), file=sys.stderr)
    return 0


HUB_CHECKS = (
    "vLLM 0.6.4 support of the model's architecture",
    "access to the repository with the token",
    "the context length (vllm.max_model_len)",
    "the GPU memory fit (compute.gpus, compute.gpu_memory)",
)
"""What ``hfinfer check`` learns from the Hub; without an answer none of it is checked."""

CLI_WARN_HINT = "use --mode warn to report the problems without failing"


def _not_checked(codes: set[str]) -> list[str]:
    """Lines saying what an unanswered Hub left unchecked (empty when the Hub answered)."""
    from airflow_provider_hfinfer.checks.preflight.advice import NETWORK_CODES

    if not codes & NETWORK_CODES:
        return []
    return [
        "checked: the spec's fields and rules (as `hfinfer validate`)",
        "not checked (needs the Hub): " + "; ".join(HUB_CHECKS),
    ]


def _cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    import logging
    import os

    from airflow_provider_hfinfer.checks.preflight import PreflightError, run_preflight
    from airflow_provider_hfinfer.checks.preflight.advice import advice
    from airflow_provider_hfinfer.checks.preflight.hub import DEFAULT_ENDPOINT
    from airflow_provider_hfinfer.checks.preflight.workload import request_for

    # The report below says everything once; the library's log lines would repeat it.
    logging.getLogger("airflow_provider_hfinfer.checks.preflight").addHandler(logging.NullHandler())
    workload = _load(args.spec)
    # Like the operator: a token from outside the spec only for an existing Secret.
    referenced = workload.hf_access.type == "existing_secret"
    outside = os.environ.get(args.token_env) if referenced else None
    request = request_for(workload, outside or None)
    if args.mode != "off":
        hub = args.endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
        print(f"asking the Hugging Face Hub at {hub} about {request.model_id}", file=sys.stderr)
    try:
        report = run_preflight(
            request, mode=args.mode, endpoint=args.endpoint, timeout=args.timeout
        )
    except PreflightError as err:
        errors = err.report.errors
        lines = [str(err).splitlines()[0]]
        lines += [f"  - [{finding.code}] {finding.message}" for finding in errors]
        lines += _not_checked({finding.code for finding in errors})
        lines.append(advice(errors, CLI_WARN_HINT, "--endpoint URL / HF_ENDPOINT"))
        raise _InputError([f"{args.spec}: {line}" for line in lines]) from err
    print(report.summary(), file=out)
    for line in _not_checked({finding.code for finding in report.findings}):
        print(line, file=out)
    return 0


SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
"""The JSON Schema dialect pydantic generates; named so editors pick the right one."""


def workload_json_schema() -> dict[str, object]:
    """The workload spec's JSON Schema, as ``hfinfer schema`` prints it (pure)."""
    return {"$schema": SCHEMA_DIALECT, **InferenceWorkload.model_json_schema()}


def _cmd_schema(args: argparse.Namespace, out: TextIO) -> int:
    print(json.dumps(workload_json_schema(), indent=2), file=out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the ``hfinfer`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="hfinfer", description="Hugging Face inference workloads for Airflow + Kubernetes."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check a workload spec (exit 1 if invalid)")
    validate.add_argument("spec", help="workload YAML/JSON file, or - for stdin")
    validate.set_defaults(func=_cmd_validate)

    render = commands.add_parser("render", help="print the Kubernetes manifests as YAML")
    render.add_argument("spec", help="workload YAML/JSON file, or - for stdin")
    render.add_argument("--namespace", "-n", required=True, help="the project's namespace")
    render.add_argument("--options", help="YAML file with cluster render options")
    render.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override one render option"
    )
    render.add_argument("--plan", action="store_true", help="also print a plan on stderr")
    render.add_argument(
        "--show-secrets", action="store_true", help="print Secret values instead of redacting"
    )
    render.set_defaults(func=_cmd_render)

    check = commands.add_parser(
        "check",
        help="pre-flight: vLLM 0.6.4 support, Hub access and GPU memory fit "
        "(contacts the Hugging Face Hub: 2 HTTPS requests)",
    )
    check.add_argument("spec", help="workload YAML/JSON file, or - for stdin")
    check.add_argument(
        "--mode",
        choices=["strict", "warn", "off"],
        default="strict",
        help="strict: exit 1 on a problem; warn: report it, exit 0; off: no Hub request",
    )
    check.add_argument("--endpoint", help="Hub URL (default: $HF_ENDPOINT or huggingface.co)")
    check.add_argument(
        "--token-env",
        default="HF_TOKEN",
        help="environment variable holding the token when the spec references a Secret",
    )
    check.add_argument("--timeout", type=float, default=10.0, help="seconds per Hub request")
    check.set_defaults(func=_cmd_check)

    schema = commands.add_parser("schema", help="print the workload JSON Schema")
    schema.set_defaults(func=_cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).
        out: Where results go (default: stdout); problems go to stderr.

    Returns:
        The exit code: 0 ok, 1 invalid input, 2 usage error.
    """
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args, out or sys.stdout)
    except _InputError as err:
        for line in err.lines:
            print(line, file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (``hfinfer schema | head``): not an error worth a traceback.
        sys.stderr.close()
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
