"""The suite's process helper: a process started again under the same name (the shared worker after a test
ran its own) is waited for on its own output, not on the previous process's lines in the shared log."""

import time

from tests.support.processes import ManagedProcess


def test_a_restarted_process_is_ready_only_when_it_says_so_itself(tmp_path):
    first = ManagedProcess("twice", ["sh", "-c", "echo ready."], {}, tmp_path, shared=True)
    first.process.wait(timeout=10)
    first.stop()

    second = ManagedProcess("twice", ["sh", "-c", "sleep 2; echo ready.; sleep 30"], {}, tmp_path, shared=True)
    started = time.monotonic()
    try:
        second.wait_for_output("ready.", timeout=30)
        waited = time.monotonic() - started
    finally:
        second.stop()

    assert waited >= 1.5  # it waited for its own line, about 2 s, not the first process's
    assert second.output() == "ready.\n"
    assert (tmp_path / "twice.log").read_text() == "ready.\nready.\n"  # one log keeps both
