"""models for finance."""
