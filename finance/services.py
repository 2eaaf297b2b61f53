"""services for finance."""
