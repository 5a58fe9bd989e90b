"""Kubernetes syntax rules: names, keys, values, secret keys, quantities, durations."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from airflow_provider_hfinfer.spec import kube_syntax as ks

OWN = ("hfinfer.io",)


@pytest.mark.parametrize(
    "value",
    ["a", "llama3-8b-chat", "a1", "x" * 63, "a-b-c", "z9"],
)
def test_dns1035_label_valid(value: str) -> None:
    assert ks.dns1035_label_error(value) is None


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("", "DNS-1035"),
        ("1abc", "start with a letter"),
        ("-abc", "DNS-1035"),
        ("abc-", "end with a letter or digit"),
        ("Abc", "lower-case"),
        ("a_b", "DNS-1035"),
        ("a.b", "DNS-1035"),
        ("a b", "DNS-1035"),
        ("x" * 64, "at most 63 characters \\(got 64\\)"),
    ],
)
def test_dns1035_label_invalid(value: str, match: str) -> None:
    problem = ks.dns1035_label_error(value)
    assert problem is not None
    assert re.search(match, problem)


def test_dns1035_label_custom_max_length() -> None:
    assert ks.dns1035_label_error("a" * 46, 46) is None
    assert ks.dns1035_label_error("a" * 47, 46) == "must be at most 46 characters (got 47)"


@pytest.mark.parametrize("value", ["runai-team-a", "1abc", "a", "0", "x" * 63])
def test_dns1123_label_valid(value: str) -> None:
    assert ks.dns1123_label_error(value) is None


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("", "DNS-1123"),
        ("-a", "DNS-1123"),
        ("a-", "DNS-1123"),
        ("A", "DNS-1123"),
        ("a.b", "DNS-1123"),
        ("x" * 64, "at most 63"),
    ],
)
def test_dns1123_label_invalid(value: str, match: str) -> None:
    problem = ks.dns1123_label_error(value)
    assert problem is not None and match in problem


@pytest.mark.parametrize(
    "value", ["hf-credentials", "a.b.c", "x" * 63 + "." + "y" * 63, ("a" * 63 + ".") * 3 + "b" * 61]
)
def test_dns1123_subdomain_valid(value: str) -> None:
    assert ks.dns1123_subdomain_error(value) is None


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("", "must not be empty"),
        ("a..b", "DNS-1123 subdomain"),
        (".a", "DNS-1123 subdomain"),
        ("a.", "DNS-1123 subdomain"),
        ("Hf-Credentials", "DNS-1123 subdomain"),
        ("hf_credentials", "DNS-1123 subdomain"),
        (("a" * 63 + ".") * 4 + "b", "at most 253 characters (got 257)"),
    ],
)
def test_dns1123_subdomain_invalid(value: str, match: str) -> None:
    problem = ks.dns1123_subdomain_error(value)
    assert problem is not None and match in problem


@pytest.mark.parametrize(
    "key",
    [
        "team",
        "cost-center",
        "Team_Name.v2",
        "example.com/team",
        "a.b.example.com/x",
        "x" * 63,
        "p" * 253 + "/" + "n" * 63,
        "notkubernetes.io/x",  # only kubernetes.io and its subdomains are reserved
    ],
)
def test_qualified_key_valid(key: str) -> None:
    assert ks.qualified_name_error(key) is None
    assert ks.reserved_prefix_error(key, OWN) is None


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("", "name part must not be empty"),
        ("example.com/", "name part must not be empty"),
        ("/team", "empty prefix"),
        ("-team", "starting and ending with an alphanumeric"),
        ("team-", "starting and ending with an alphanumeric"),
        ("te am", "alphanumeric"),
        ("x" * 64, "name part must be at most 63 characters (got 64)"),
        ("Example.com/team", "prefix 'Example.com'"),
        ("example_com/team", "DNS-1123 subdomain"),
        ("a/b/c", "prefix 'a/b'"),
        ("p" * 254 + "/n", "at most 253 characters (got 254)"),
    ],
)
def test_qualified_key_invalid(key: str, match: str) -> None:
    problem = ks.qualified_name_error(key)
    assert problem is not None and match in problem


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("kubernetes.io/team", "reserved for Kubernetes"),
        ("k8s.io/team", "reserved for Kubernetes"),
        ("node.kubernetes.io/type", "'node.kubernetes.io/'"),
        ("app.kubernetes.io/name", "reserved for Kubernetes"),
        ("x.k8s.io/y", "reserved for Kubernetes"),
        ("hfinfer.io/workload", "this provider sets itself"),
    ],
)
def test_reserved_prefixes(key: str, match: str) -> None:
    assert ks.qualified_name_error(key) is None  # syntactically fine...
    problem = ks.reserved_prefix_error(key, OWN)  # ...but not the user's to set
    assert problem is not None and match in problem


@pytest.mark.parametrize("value", ["", "a", "ml-platform", "4711", "v1.2_3", "x" * 63])
def test_label_value_valid(value: str) -> None:
    assert ks.label_value_error(value) is None


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("-a", "starting and ending"),
        ("a-", "starting and ending"),
        ("a b", "alphanumeric"),
        ("a/b", "alphanumeric"),
        ("ml-platform@example.com", "alphanumeric"),
        ("x" * 64, "at most 63 characters (got 64)"),
    ],
)
def test_label_value_invalid(value: str, match: str) -> None:
    problem = ks.label_value_error(value)
    assert problem is not None and match in problem


@pytest.mark.parametrize("key", ["HF_TOKEN", "token", "a.b-c_d", ".hidden", "x" * 253])
def test_secret_key_valid(key: str) -> None:
    assert ks.secret_key_error(key) is None


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("", "must not be empty"),
        (".", "alphanumeric"),
        ("..", "alphanumeric"),
        ("HF TOKEN", "alphanumeric"),
        ("a/b", "alphanumeric"),
        ("x" * 254, "at most 253 characters (got 254)"),
    ],
)
def test_secret_key_invalid(key: str, match: str) -> None:
    problem = ks.secret_key_error(key)
    assert problem is not None and match in problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500m", Decimal("0.5")),
        ("1.5", Decimal("1.5")),
        ("4", Decimal(4)),
        ("16Gi", Decimal(16 * 2**30)),
        ("512Mi", Decimal(512 * 2**20)),
        ("2Ki", Decimal(2048)),
        ("1e9", Decimal(10**9)),
        ("1E3", Decimal(1000)),
        ("2e-3", Decimal("0.002")),
        ("1k", Decimal(1000)),
        ("1G", Decimal(10**9)),
        (".5", Decimal("0.5")),
        ("+2", Decimal(2)),
        ("-1", Decimal(-1)),  # parses; the spec rejects it as not positive
    ],
)
def test_parse_quantity_valid(text: str, expected: Decimal) -> None:
    assert ks.parse_quantity(text) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("abc", "not a Kubernetes quantity"),
        ("", "not a Kubernetes quantity"),
        ("1.2.3", "not a Kubernetes quantity"),
        (" 4", "not a Kubernetes quantity"),
        ("4 ", "not a Kubernetes quantity"),
        ("16GB", "unknown suffix 'GB'"),
        ("1K", "unknown suffix 'K'"),
        ("1e", "unknown suffix 'e'"),
        ("10gi", "unknown suffix 'gi'"),
        ("1e99999999", "out of range"),
        ("1e" + "9" * 5000, "out of range"),
        ("8Ei", "out of range"),
    ],
)
def test_parse_quantity_invalid(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ks.parse_quantity(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(16 * 2**30, "16Gi"), (512 * 2**20, "512Mi"), (2**30 + 1, str(2**30 + 1)), (0, "0")],
)
def test_format_bytes(value: int, expected: str) -> None:
    assert ks.format_bytes(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (600, 600),
        (0, 0),
        ("600", 600),
        ("10m", 600),
        ("1h30m", 5400),
        ("45s", 45),
        ("1h", 3600),
        ("2m5s", 125),
        (" 10m ", 600),
        (2**31 - 1, 2**31 - 1),
    ],
)
def test_parse_duration_valid(value: int | str, expected: int) -> None:
    assert ks.parse_duration_seconds(value) == expected


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("10 minutes", "not a duration"),
        ("", "not a duration"),
        ("1h 30m", "not a duration"),
        ("30m1h", "not a duration"),
        ("-5", "not a duration"),
        ("1.5h", "not a duration"),
        ("²", "not a duration"),
        (-5, "negative"),
        (True, "not a duration"),
        (2**31, "longer than 2147483647 seconds"),
        ("9" * 5000, "too long"),
    ],
)
def test_parse_duration_invalid(value: int | str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ks.parse_duration_seconds(value)
