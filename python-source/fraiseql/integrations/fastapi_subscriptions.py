"""The seeds' module path for the FastAPI integration (the code is ``fraiseql.integrations.fastapi``)."""

from fraiseql.integrations.fastapi import SubscriptionRouterFactory

__all__ = ["SubscriptionRouterFactory"]
