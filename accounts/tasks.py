"""tasks for accounts."""
