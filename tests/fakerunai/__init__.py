"""A fake NVIDIA Run:ai control plane served over HTTP on loopback, for tests."""

from .server import CLIENT_ID, CLIENT_SECRET, CLUSTER_ID, CLUSTER_NAME, FakeRunai

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "CLUSTER_ID", "CLUSTER_NAME", "FakeRunai"]
