"""Starts Flower, and refuses to without FLOWER_BASIC_AUTH: task arguments are customer data.

Usage: python -m core.operations.flower [extra flower options]; replaces itself with Flower so signals reach it."""

import os
import re
import sys

MAX_TASKS_IN_MEMORY = 10_000  # Flower keeps task history in memory; this bounds it


def main() -> None:
    credentials = os.environ.get("FLOWER_BASIC_AUTH", "")
    if not re.fullmatch(r"[^:,\s]+:[^,\s]{8,}(,[^:,\s]+:[^,\s]{8,})*", credentials):
        sys.exit("Flower not started: set FLOWER_BASIC_AUTH to user:password (password of 8+ characters).")
    arguments = [
        "celery",
        "-A",
        "myproject",
        "flower",
        f"--basic-auth={credentials}",
        f"--address={os.environ.get('FLOWER_ADDRESS', '127.0.0.1')}",
        f"--port={os.environ.get('FLOWER_PORT', '5555')}",
        f"--max_tasks={MAX_TASKS_IN_MEMORY}",
        *sys.argv[1:],
    ]
    os.execvp(arguments[0], arguments)


if __name__ == "__main__":
    main()
