"""services for notifications."""
