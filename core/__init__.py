"""Cross-cutting pieces shared by every app: the task base class, dead letters, the outbox, locks, health."""
