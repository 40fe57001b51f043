"""A live chat board demonstrating FraiseQL Subscriptions in a browser.

Run it with ``fraiseql-subscriptions demo`` (or ``python -m fraiseql.cli demo``) and open the
printed URL. :func:`create_app` builds the same application on FastAPI or on Starlette.
"""

from fraiseql.demo._board import SCHEMA_SDL, ChatBoard, Reply, parse_bus
from fraiseql.demo.app import create_app

__all__ = ["SCHEMA_SDL", "ChatBoard", "Reply", "create_app", "parse_bus"]
