"""selectors for notifications."""
