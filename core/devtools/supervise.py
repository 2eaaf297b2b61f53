"""Keeps one process of `make run` alive: `python -m core.devtools.supervise COMMAND...` runs the command and starts it
again whenever it exits on its own, and passes a stop signal on.

Why: under honcho a crashed worker stays dead. watchfiles restarts its command only when a file changes, and
honcho would stop the whole stack if the watched process itself exited. Production has its own supervisors
(compose's `restart:`, systemd); this is the same promise for the local stack.
"""

import signal
import subprocess
import sys
import time

# A command that dies sooner than this after starting is likely to die again: back off up to the maximum.
QUICK_EXIT_SECONDS = 30
MAX_DELAY_SECONDS = 30


def supervise(command: list[str]) -> int:
    child: subprocess.Popen | None = None
    stopping = False

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    delay = 1
    while True:
        started = time.monotonic()
        # In our process group, so honcho's group kill reaches it too and no worker outlives the stack.
        child = subprocess.Popen(command)
        code = child.wait()
        if stopping:
            return code
        delay = 1 if time.monotonic() - started > QUICK_EXIT_SECONDS else min(delay * 2, MAX_DELAY_SECONDS)
        print(
            f"supervise: {command[0]} exited with {code}; starting it again in {delay} s", file=sys.stderr, flush=True
        )
        time.sleep(delay)
        if stopping:
            return code


if __name__ == "__main__":
    sys.exit(supervise(sys.argv[1:]))
