"""Haven signaling."""
