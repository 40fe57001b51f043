"""Wire protocols spoken to clients; each in its own package (``types`` and ``handlers``)."""
