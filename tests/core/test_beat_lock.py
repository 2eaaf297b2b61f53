"""The beat lock: one holder per database; the next one takes it only once the holder's session is gone."""

import pytest
from django.db import connection

from core.operations.beat import BeatLock

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_shared_beat")]


@pytest.fixture
def locks():
    made = []

    def make() -> BeatLock:
        made.append(BeatLock())
        return made[-1]

    yield make
    for lock in made:
        lock.release()


def test_one_holder_and_the_next_takes_over_when_it_lets_go(locks):
    first, second = locks(), locks()

    assert first.hold()
    assert not second.hold()
    assert first.hold(), "a holder asked again must still hold"

    first.release()
    assert second.hold()
    assert not first.hold()


def test_a_holder_whose_session_died_no_longer_leads(locks):
    # given a holder, whose database session is then ended (a database restart, a dropped connection)
    first, second = locks(), locks()
    assert first.hold()
    with first.connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [backend] = cursor.fetchone()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend])

    # then another takes the lock, and the old holder knows it lost it
    assert second.hold()
    assert not first.hold()
