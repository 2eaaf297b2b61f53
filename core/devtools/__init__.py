"""Local-development tooling for `make run`: embedded PostgreSQL and Valkey, the mail sink, worker supervision."""
