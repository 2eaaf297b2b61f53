"""tasks for finance."""
