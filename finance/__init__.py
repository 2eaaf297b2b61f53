"""Finance: charges through a payment gateway, exchange rates and revenue reports."""
