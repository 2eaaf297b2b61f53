"""Notifications: subscribers, newsletters and the daily digest."""
