"""selectors for accounts."""
