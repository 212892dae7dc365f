"""Haven server."""
