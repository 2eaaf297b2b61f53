"""tasks for notifications."""
