"""Fixtures for the pre-flight tests: a fake Hub on 127.0.0.1, a network guard, DAG runs."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from airflow_fixtures import airflow_db, run_task  # noqa: F401

from airflow_provider_hfinfer.checks.preflight import clear_cache

from .fake_hub import FakeHub


@pytest.fixture(scope="session")
def _fake_hub_server() -> Iterator[FakeHub]:
    hub = FakeHub().start()
    yield hub
    hub.stop()


def _is_loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host == "localhost"
    # Unix sockets and the like never leave the machine.
    return True


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any connection that would leave the machine (never the real Hub)."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_loopback(address):
            raise AssertionError(f"test tried to reach a non-loopback address: {address!r}")
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_loopback(address):
            raise AssertionError(f"test tried to reach a non-loopback address: {address!r}")
        return original_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture
def fake_hub(_fake_hub_server: FakeHub, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """The fake Hub, set as ``HF_ENDPOINT``, with no request recorded and an empty cache."""
    monkeypatch.setenv("HF_ENDPOINT", _fake_hub_server.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    # A token on the machine must never be picked up implicitly by a check.
    monkeypatch.setenv("HF_TOKEN", "hf_machineTokenThatMustNeverBeSent000")
    _fake_hub_server.reset()
    clear_cache()
    yield _fake_hub_server
    clear_cache()
