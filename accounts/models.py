"""models for accounts."""
