"""The vLLM server options of a workload and the flags the provider owns.

This module owns :class:`VLLMOptions`, the reserved vLLM flags (those the provider
renders itself, and those that carry a secret or change port, host or protocol) in
every spelling vLLM's parser accepts, and the checks of ``extra_args``. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from pydantic import (
    Field,
    field_validator,
)

from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.spec.redact import secret_format
from airflow_provider_hfinfer.spec.rules import (
    VLLM_PORT,
    Frozen,
    _fail,
    _fail_arg,
    _reject_bool,
)


class VLLMOptions(Frozen):
    """vLLM serving options.

    Args:
        image: Container image (default: the cluster's default, ``vllm/vllm-openai:v0.6.4``).
        max_model_len: Context length; set it for long-context models, which may
            otherwise fail to start.
        dtype: Weights and activations dtype.
        gpu_memory_utilization: Share of each GPU's memory vLLM may use (0-1].
        task: ``auto``, ``generate`` or ``embedding``.
        extra_args: Further ``vllm serve`` flags, e.g. ``["--enable-prefix-caching"]``;
            none may be read by vLLM as a flag in ``RESERVED_VLLM_FLAGS`` (see
            :func:`reserved_flags_read_as`).
    """

    image: str | None = Field(default=None, description="vLLM image; None: cluster default.")
    max_model_len: int | None = Field(default=None, ge=16, description="--max-model-len.")
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] = "auto"
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    task: Literal["auto", "generate", "embedding"] = "auto"
    extra_args: tuple[str, ...] = ()

    _no_bool = field_validator("max_model_len", "gpu_memory_utilization", mode="before")(
        _reject_bool
    )

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(ch.isspace() for ch in value)):
            raise _fail("vllm.image", value, "is not an image reference", "e.g. 'repo/image:tag'")
        return value

    @field_validator("extra_args")
    @classmethod
    def _no_reserved_flags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _check_extra_args(value)
        return value


RESERVED_VLLM_FLAGS: Mapping[str, str | None] = MappingProxyType(
    {
        "--model": "model.id",
        "--served-model-name": "model.served_name",
        "--revision": "model.revision",
        "--host": None,
        "--port": None,
        "--api-key": None,
        "--hf-token": None,
        "--ssl-keyfile": None,
        "--ssl-certfile": None,
        "--ssl-ca-certs": None,
        "--ssl-cert-reqs": None,
        "--tensor-parallel-size": "compute.gpus",
        "-tp": "compute.gpus",
        "--max-model-len": "vllm.max_model_len",
        "--dtype": "vllm.dtype",
        "--gpu-memory-utilization": "vllm.gpu_memory_utilization",
        "--task": "vllm.task",
        "--download-dir": "cache",
    }
)
"""Flags the renderer sets, each with the spec field it comes from (None: refused outright).

Giving one again in ``vllm.extra_args`` is an error, in any spelling vLLM's
parser reads as the flag (see :func:`reserved_flags_read_as`). The ones with
no field are those ``vllm serve`` (0.6.4) would use to carry a secret or to
move the endpoint the provider renders for (see ``_REFUSED_BECAUSE``); other
server flags (``--root-path``, CORS, ``--middleware``, tool parsers) leave host,
port and protocol as they are and stay allowed.
"""

_SECRET_REASON = (
    "carries a secret, which would be stored in plaintext in the Deployment's arguments "
    "and shown by 'hfinfer render' and the API server"
)
_REFUSED_BECAUSE: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "--host": (
            f"the provider fixes (vLLM listens on 0.0.0.0:{VLLM_PORT}, where the Service, "
            "probes and metrics scraping reach it)",
            "remove this argument",
        ),
        "--api-key": (
            _SECRET_REASON,
            "remove it and restrict callers with endpoint_access (mode authenticated, "
            "groups or users), which checks each caller's token at the mesh",
        ),
        "--hf-token": (_SECRET_REASON, "remove it and set hf_access instead"),
        "--ssl": (
            "switches vLLM to HTTPS, but the Service, probes and metrics scraping the "
            "provider renders speak plain HTTP",
            "remove it and terminate TLS at the mesh or ingress (Istio mTLS encrypts "
            "traffic between pods)",
        ),
    }
)
_REFUSED_BECAUSE_ALIASES = {
    "--port": "--host",
    "--ssl-keyfile": "--ssl",
    "--ssl-certfile": "--ssl",
    "--ssl-ca-certs": "--ssl",
    "--ssl-cert-reqs": "--ssl",
}


def vllm_option_name(arg: str) -> str | None:
    """Return the option name vLLM 0.6.4's parser reads in one ``extra_args`` item.

    The name is the text before ``=`` (``--port=9000``) or a space (``--port 9000``
    given as one item). vLLM's ``FlexibleArgumentParser`` turns underscores into
    dashes in ``--`` names before parsing, so ``--max_model_len`` reads as
    ``--max-model-len``; single-dash names are left as they are.

    Args:
        arg: One item of ``vllm.extra_args``.

    Returns:
        The normalized option name, or None when the item is a value (no leading
        ``-``, a negative number, ``-`` or the ``--`` end-of-options marker).
    """
    name = re.split(r"[=\s]", arg.strip(), maxsplit=1)[0]
    if not name.startswith("-") or name in ("-", "--") or name[1:2].isdigit():
        return None
    if name.startswith("--"):
        name = "--" + name[2:].replace("_", "-")
    return name


def reserved_flags_read_as(arg: str, reserved: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Return the reserved flags vLLM's parser could read ``arg`` as.

    argparse (``allow_abbrev``, on in vLLM) accepts any prefix of a long option
    that no other option shares, and a prefix shared by several is an error at
    start-up. So ``arg`` is refused when its name (:func:`vllm_option_name`) equals
    a reserved flag or is a prefix of one: ``--mod``, ``--served-model``,
    ``--port=9000``, ``--max_model_len``, ``-t`` (for ``-tp``). A real flag that
    merely starts with a reserved one, such as ``--model-loader-extra-config``,
    is longer than it and passes; no vLLM 0.6.4 flag is a prefix of a reserved one.

    Args:
        arg: One item of ``vllm.extra_args``.
        reserved: The flags to check against (default: ``RESERVED_VLLM_FLAGS``).

    Returns:
        The matching reserved flags, empty when ``arg`` sets none of them.
    """
    name = vllm_option_name(arg)
    if name is None:
        return ()
    flags = tuple(RESERVED_VLLM_FLAGS) if reserved is None else reserved
    return tuple(flag for flag in flags if flag.startswith(name))


def _reserved_flag_error(where: str, arg: str, flags: tuple[str, ...]) -> SpecError:
    read_as = " or ".join(flags)
    sources = [RESERVED_VLLM_FLAGS[flag] for flag in flags]
    fields = ", ".join(dict.fromkeys(source for source in sources if source))
    if not fields:
        reason, fix = _REFUSED_BECAUSE[_REFUSED_BECAUSE_ALIASES.get(flags[0], flags[0])]
        return _fail_arg(where, arg, f"can be read by vLLM as {read_as}, which {reason}", fix)
    return _fail_arg(
        where,
        arg,
        f"can be read by vLLM as {read_as}, which the provider sets from {fields}",
        f"set {fields} instead and remove this argument",
    )


def _extra_arg_value(args: tuple[str, ...], index: int) -> str:
    """The value of the option at ``args[index]``: after ``=`` or a space, or the next item."""
    arg = args[index].strip()
    parts = re.split(r"[=\s]", arg, maxsplit=1)
    if len(parts) == 2:
        return parts[1].strip()
    following = args[index + 1] if index + 1 < len(args) else ""
    return following.strip() if vllm_option_name(following) is None else ""


def _check_extra_args(value: tuple[str, ...]) -> None:
    for index, arg in enumerate(value):
        where = f"vllm.extra_args[{index}]"
        flags = reserved_flags_read_as(arg)
        if flags:
            raise _reserved_flag_error(where, arg, flags)
        if secret_format(arg):
            raise _fail_arg(
                where,
                arg,
                "holds what looks like a credential (a token or key), which would be stored "
                "in plaintext in the Deployment's arguments",
                "keep credentials in a Secret; the Hugging Face token goes in hf_access",
            )
        if reserved_flags_read_as(arg, ("--uvicorn-log-level",)) and (
            _extra_arg_value(value, index).lower() == "trace"
        ):
            raise _fail_arg(
                where,
                arg,
                "sets uvicorn's 'trace' log level, which writes every request's headers and "
                "body into the pod log, including callers' tokens",
                "use 'debug' or 'info'",
            )
