"""Runtime backends behind one interface, and the classifier that batches questions through them."""

from .base import Backend, available_backends, create_backend

__all__ = ["Backend", "available_backends", "create_backend"]
