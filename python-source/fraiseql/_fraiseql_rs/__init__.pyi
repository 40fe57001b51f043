"""The compiled extension of FraiseQL Subscriptions (a thin PyO3 layer over the Rust engine)."""

from . import subscriptions as subscriptions
from .subscriptions import PyEventBusConfig as PyEventBusConfig

__version__: str

__all__ = ["PyEventBusConfig", "__version__", "subscriptions"]
