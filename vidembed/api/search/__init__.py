"""TwelveLabs' search (``client.search``: ``POST /search``, ``GET /search/{page_token}``)."""
