"""The one exception type services raise for domain failures, so callers can tell them from bugs."""


class ProjectError(Exception):
    """A domain rule refused the operation; the message is safe to show to a user."""
