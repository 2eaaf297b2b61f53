"""core.tasking.later: a pool process's deferred bookkeeping runs once its moment comes, and never when taken
back before it."""

import threading
import time

from core.tasking.later import Later


def test_work_runs_after_its_delay_and_a_slot_taken_back_in_time_never_runs():
    later, ran = Later(), []
    done = threading.Event()

    later.schedule("kept", 0.05, lambda: (ran.append("kept"), done.set()))
    later.schedule("taken back", 0.05, lambda: ran.append("taken back"))
    taken_back = later.cancel("taken back")

    assert done.wait(5)
    time.sleep(0.1)
    assert taken_back and ran == ["kept"]
    assert not later.cancel("kept")  # it ran: too late to take back


def test_a_slot_scheduled_again_holds_only_its_latest_work():
    later, ran = Later(), []
    done = threading.Event()

    later.schedule("mark", 0.05, lambda: ran.append("first"))
    later.schedule("mark", 0.05, lambda: (ran.append("second"), done.set()))

    assert done.wait(5)
    time.sleep(0.1)
    assert ran == ["second"]


def test_work_due_sooner_than_the_thread_planned_to_wake_is_not_kept_waiting():
    later = Later()
    done = threading.Event()
    later.schedule("late", 30, lambda: None)

    scheduled = time.monotonic()
    later.schedule("soon", 0.05, done.set)

    assert done.wait(5) and time.monotonic() - scheduled < 2
