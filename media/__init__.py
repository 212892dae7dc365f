"""Haven media."""
