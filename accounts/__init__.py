"""Accounts: user sessions and contact imports."""
