"""The compiled extension of FraiseQL Subscriptions (a thin PyO3 layer over the Rust engine)."""

from . import subscriptions as subscriptions

__version__: str

__all__ = ["__version__", "subscriptions"]
