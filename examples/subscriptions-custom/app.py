"""Subscriptions on a server of your own (here the ``websockets`` library), as the seeds' quick
reference runs it:

    cd examples/subscriptions-custom && python app.py [--port 8765]

It publishes a tick every second. Open examples/client.html as a file with
``?url=ws://127.0.0.1:8765/graphql&query=tick``. The adapter this server needs (six small
methods) is ``fraiseql/integrations/custom_server_example.py``: copy it for any other framework.
"""

from __future__ import annotations

import asyncio

from fraiseql.integrations.custom_server_example import main

if __name__ == "__main__":
    asyncio.run(main())
