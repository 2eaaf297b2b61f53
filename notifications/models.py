"""models for notifications."""
