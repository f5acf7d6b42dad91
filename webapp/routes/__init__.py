"""Route tables, one module per area; `webapp.app` mounts them."""
