"""FraiseQL Subscriptions: GraphQL subscriptions for Python, with a Rust engine."""

from fraiseql import _fraiseql_rs

__all__ = ["__version__", "_fraiseql_rs"]

__version__: str = _fraiseql_rs.__version__
