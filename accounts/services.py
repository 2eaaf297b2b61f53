"""services for accounts."""
