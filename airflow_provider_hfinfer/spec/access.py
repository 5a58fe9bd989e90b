"""Who may reach the model and with which token: Hugging Face access and endpoint access.

This module owns the four ``hf_access`` shapes (none, an inline token, an existing
Secret, a new Secret), the discriminator that picks one, and ``endpoint_access``
(public, authenticated, groups, users) with its user and group syntax. Pure.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    field_validator,
    model_validator,
)

from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.spec import kube_syntax as ks
from airflow_provider_hfinfer.spec.rules import (
    Frozen,
    _fail,
)


class NoHFAccess(Frozen):
    """A public model: no Hugging Face token is mounted.

    Args:
        type: Always ``none``; selects this kind of access.
    """

    type: Literal["none"] = Field(default="none", description="Always 'none'.")


class TokenHFAccess(Frozen):
    """An access token given inline; it becomes a new Secret ``<name>-hf-token``.

    Args:
        type: Always ``token``; selects this kind of access.
        token: The Hugging Face access token; never logged or rendered outside the Secret.
    """

    type: Literal["token"] = Field(default="token", description="Always 'token'.")
    token: SecretStr = Field(description="Hugging Face access token (stored in a new Secret).")

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if not raw or any(ch.isspace() for ch in raw):
            raise SpecError(
                "hf_access.token is empty or contains whitespace: paste the token exactly "
                "as Hugging Face shows it (Settings > Access Tokens)"
            )
        return value


def _check_secret_name(value: str) -> str:
    problem = ks.dns1123_subdomain_error(value)
    if problem:
        raise _fail("hf_access.secret_name", value, problem, "use the Secret's exact name")
    return value


def _check_secret_key(value: str) -> str:
    problem = ks.secret_key_error(value)
    if problem:
        raise _fail("hf_access.key", value, problem, "use a key such as 'HF_TOKEN'")
    return value


SecretName = Annotated[str, AfterValidator(_check_secret_name)]
SecretKey = Annotated[str, AfterValidator(_check_secret_key)]


class ExistingSecretHFAccess(Frozen):
    """Existing credentials: a Secret already in the namespace holding the token.

    Args:
        type: Always ``existing_secret``; selects this kind of access.
        secret_name: The Secret's name.
        key: The key inside the Secret that holds the token (default ``HF_TOKEN``).
    """

    type: Literal["existing_secret"] = Field(
        default="existing_secret", description="Always 'existing_secret'."
    )
    secret_name: SecretName = Field(description="Name of an existing Secret in the project.")
    key: SecretKey = Field(default="HF_TOKEN", description="Key of the token in the Secret.")


class NewSecretHFAccess(Frozen):
    """New credentials: a new Secret with the given name, key and token value.

    Args:
        type: Always ``new_secret``; selects this kind of access.
        secret_name: The name of the Secret to create.
        key: The key to store the token under (default ``HF_TOKEN``).
        value: The token itself.
    """

    type: Literal["new_secret"] = Field(default="new_secret", description="Always 'new_secret'.")
    secret_name: SecretName = Field(description="Name of the Secret to create.")
    key: SecretKey = Field(default="HF_TOKEN", description="Key to store the token under.")
    value: SecretStr = Field(description="The Hugging Face token to store.")

    @field_validator("value")
    @classmethod
    def _value(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if not raw or any(ch.isspace() for ch in raw):
            raise SpecError(
                "hf_access.value is empty or contains whitespace: paste the token exactly "
                "as Hugging Face shows it"
            )
        return value


HF_ACCESS_TYPES = ("none", "token", "existing_secret", "new_secret")


def _hf_access_type(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) else None


HFAccess = Annotated[
    Annotated[NoHFAccess, Tag("none")]
    | Annotated[TokenHFAccess, Tag("token")]
    | Annotated[ExistingSecretHFAccess, Tag("existing_secret")]
    | Annotated[NewSecretHFAccess, Tag("new_secret")],
    Discriminator(
        _hf_access_type,
        custom_error_type="hf_access_type",
        custom_error_message=(
            "hf_access.type is missing or unknown: set type to 'none' (public model), "
            "'token', 'existing_secret' or 'new_secret'"
        ),
    ),
]


class EndpointAccess(Frozen):
    """Who may call the serving endpoint.

    Args:
        mode: ``public`` (default, no authentication), ``authenticated`` (any user
            with a valid token from the cluster's identity provider), ``groups`` or ``users``.
        groups: Group names as the identity provider writes them (mode ``groups``).
        users: E-mail addresses or user names (mode ``users``).
    """

    mode: Literal["public", "authenticated", "groups", "users"] = "public"
    groups: tuple[str, ...] = ()
    users: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _lists_match_mode(self) -> EndpointAccess:
        for field, values in (("groups", self.groups), ("users", self.users)):
            wanted = self.mode == field
            if wanted and not values:
                raise SpecError(
                    f"endpoint_access.{field} is empty but mode is '{field}': list at least "
                    f"one entry, or choose mode 'authenticated' or 'public'"
                )
            if values and not wanted:
                raise SpecError(
                    f"endpoint_access.{field} is set but mode is '{self.mode}': set "
                    f"mode: {field}, or remove endpoint_access.{field}"
                )
            _check_principals(field, values)
        return self


# RFC 5322 dot-atom local part (without '*', Istio's wildcard) @ a DNS name with a TLD.
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]$"
)
# A user name or subject as identity providers issue them: ana, ana.lee, 1234, auth0|5f7c,
# system:serviceaccount:ns:sa.
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:|+~-]*$")
MAX_PRINCIPAL_LENGTH = 256


def _principal_error(field: str, entry: str) -> str | None:
    """The rule an ``endpoint_access`` entry breaks, or None."""
    if not entry.strip():
        return "is blank"
    if entry != entry.strip():
        return "has surrounding spaces"
    if len(entry) > MAX_PRINCIPAL_LENGTH:
        return f"is longer than {MAX_PRINCIPAL_LENGTH} characters"
    if "*" in entry:
        return "contains '*', which Istio reads as a wildcard (it would let others in)"
    if '"' in entry or not entry.isprintable():
        return "contains a double quote or a control character"
    if field == "groups":
        return None
    if "@" in entry:
        if _EMAIL.match(entry) and len(entry) <= 254 and ".." not in entry:
            return None
        return (
            "is not an e-mail address (one '@', a name before it, a domain such as "
            "example.com after it, no '..')"
        )
    if not _USER_NAME.match(entry):
        return (
            "is not a user name (letters, digits and . _ - : | + ~, no spaces) nor an "
            "e-mail address"
        )
    return None


def _check_principals(field: str, values: tuple[str, ...]) -> None:
    seen: set[str] = set()
    fix = {
        "users": "write the e-mail address or user name exactly as the identity provider "
        "issues it, e.g. ana@example.com",
        "groups": "write the group exactly as the identity provider names it",
    }[field]
    for entry in values:
        problem = _principal_error(field, entry)
        if problem:
            raise _fail(f"endpoint_access.{field}", entry, problem, fix)
        if entry in seen:
            raise _fail(f"endpoint_access.{field}", entry, "is listed twice", "list it once")
        seen.add(entry)
