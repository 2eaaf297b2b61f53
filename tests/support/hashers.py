"""A password hasher for the test process: Django's default format at a test's cost."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class OneIterationPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2 with one iteration instead of Django's 1.2 million (about a second per factory user here).

    The hash keeps the default hasher's algorithm name and carries its iteration count, so processes that
    run with the real settings (gunicorn in the browser and load tests) verify it quickly too, and upgrade
    it on that first login as they would an old hash. An MD5 hash would not work there: Django only
    verifies hashes whose algorithm is in PASSWORD_HASHERS, and the real settings list no MD5."""

    iterations = 1
