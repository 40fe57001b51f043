"""The seeds' module path for the Starlette integration (the code is ``fraiseql.integrations.starlette``)."""

from fraiseql.integrations.starlette import create_subscription_app

__all__ = ["create_subscription_app"]
