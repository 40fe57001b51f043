"""The seeds' module path for the custom-server template (the code is
``fraiseql.integrations.custom_server_example``); ``python -m
fraiseql.subscriptions.custom_server_example`` runs it the same way."""

import asyncio

from fraiseql.integrations.custom_server_example import WebsocketsAdapter, main, start_server

__all__ = ["WebsocketsAdapter", "main", "start_server"]

if __name__ == "__main__":
    asyncio.run(main())
