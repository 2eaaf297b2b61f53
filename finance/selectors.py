"""selectors for finance."""
