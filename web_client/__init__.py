"""Haven web_client."""
