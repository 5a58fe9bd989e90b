"""Kubernetes I/O: request planning (pure) and a thin executor with retries."""
