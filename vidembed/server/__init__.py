"""The HTTP layer: forms, JSON bodies, status codes and OpenAPI, translated into calls of the API
surfaces (``vidembed.api``) and back; it holds no rules of its own."""
