"""Pure ASGI middleware, one class per file."""
