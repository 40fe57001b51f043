"""Framework integrations (FastAPI, Starlette, custom servers) live here; only here do
framework imports appear."""
