"""Orders: customers, products, carts, orders and their invoices."""
