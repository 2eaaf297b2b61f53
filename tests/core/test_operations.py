import pytest

from core.models import DeadLetter, Job, OutboxMessage
from core.operations.health import BEAT_KEY, WORKER_KEY_PREFIX, record_heartbeat
from core.redis import redis_client
from core.tasking import jobs
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead_letter():
    return DeadLetter.objects.create(
        task_id="t-1",
        task_name="orders.send_invoice_email",
        queue="email",
        args=[42],
        exception="SMTPRecipientsRefused('no such mailbox')",
        attempts=6,
    )


def test_non_staff_never_see_the_operator_pages(client, dead_letter):
    client.force_login(UserFactory())

    assert client.get("/operations/").status_code == 404
    assert client.get("/operations/live/").status_code == 404
    assert client.post(f"/operations/dead-letters/{dead_letter.pk}/retry/").status_code == 404
    assert not OutboxMessage.objects.exists()


def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.get("/operations/")

    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_staff_see_queues_beat_recent_tasks_failed_tasks_and_links(client, dead_letter, settings, redis_of_this_test):
    jobs.job_started(
        task_id="r-1",
        task_name="finance.sync_exchange_rates",
        args=[],
        kwargs={},
        root_id=None,
        attempt=1,
        worker="worker@host",
    )
    jobs.job_finished(task_id="r-1", state=Job.State.FAILED, error="ConnectionRefusedError: feed unreachable")
    record_heartbeat(BEAT_KEY, "beat")
    client.force_login(StaffFactory())

    page = client.get("/operations/").content.decode()

    for queue in ("default", "email", "bulk"):
        assert f'id="queue-{queue}"' in page
    assert "since beat&#x27;s last heartbeat" in page or "since beat's last heartbeat" in page
    sync = page.split('id="task-finance.sync_exchange_rates"', 1)[1].split("</tr>", 1)[0]
    assert 'data-state="failed"' in sync and "worker@host" in sync and "feed unreachable" in sync
    assert "no such mailbox" in page
    assert "/admin/django_celery_beat/periodictask/" in page and settings.FLOWER_URL in page


def test_retrying_a_dead_letter_enqueues_it_again_and_resolves_it(
    client, dead_letter, django_capture_on_commit_callbacks
):
    client.force_login(StaffFactory())

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"/operations/dead-letters/{dead_letter.pk}/retry/", follow=True)

    [message] = OutboxMessage.objects.all()
    assert message.task_name == "orders.send_invoice_email" and message.args == [42] and message.queue == "email"
    assert len(callbacks) == 1
    dead_letter.refresh_from_db()
    assert dead_letter.resolved_at is not None
    page = response.content.decode()
    assert "queued again" in page and "No failed tasks." in page


def test_staff_see_which_queue_no_worker_consumes(client):
    redis = redis_client()
    stale = list(redis.scan_iter(match=WORKER_KEY_PREFIX + "*"))
    redis.delete(*stale) if stale else None
    record_heartbeat(WORKER_KEY_PREFIX + "email@test", "worker", queues=["default", "email"])
    client.force_login(StaffFactory())
    try:
        page = client.get("/operations/").content.decode()
    finally:
        redis.delete(WORKER_KEY_PREFIX + "email@test")

    assert "email@test: default, email" in page
    bulk = page.split('id="queue-bulk"', 1)[1].split("</div></div>", 1)[0]
    assert "no worker consumes it" in bulk
    assert "no worker consumes it" not in page.split('id="queue-email"', 1)[1].split("</div></div>", 1)[0]
