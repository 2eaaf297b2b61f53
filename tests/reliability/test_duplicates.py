"""Duplicates on real workers: one order charged ten times at once is debited once, and the daily digest
fired twice on one day sends one email per subscriber."""

import pytest
from celery import group
from django.db import transaction

from finance.models import Charge
from notifications import tasks as notification_tasks
from orders import pipeline
from orders import tasks as order_tasks
from tests.factories import OrderFactory
from tests.finance.gateways import debits_of
from tests.notifications.factories import SubscriberFactory
from tests.reliability.conftest import digest_batches_in_flight
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

CONCURRENT_CHARGES = 10


def test_ten_concurrent_charges_of_one_order_debit_once(live_worker):
    # given an order with a pending charge
    order = OrderFactory()
    with transaction.atomic():
        pipeline.order_charge_request(order=order)

    # when ten charge tasks for it are delivered at once
    task_ids = [
        result.id
        for result in group(order_tasks.charge_order.si(order.pk) for _ in range(CONCURRENT_CHARGES))
        .apply_async()
        .results
    ]

    # then all ten finished, one charge row succeeded and the gateway debited once
    wait_until(
        lambda: all(f"[{task_id}] succeeded" in live_worker.output() for task_id in task_ids),
        90,
        "not every charge task finished",
        live_worker,
    )
    assert list(Charge.objects.filter(order=order).values_list("status", flat=True)) == [Charge.Status.SUCCEEDED]
    assert len(debits_of(order)) == 1


def test_the_digest_fired_twice_on_one_day_sends_one_email_each(live_worker, mailsink):
    # given three subscribers
    subscribers = SubscriberFactory.create_batch(3)

    # when beat (or a person in admin) fires the day's digest twice
    first = notification_tasks.send_daily_digest.delay("2026-11-21")
    second = notification_tasks.send_daily_digest.delay("2026-11-21")

    # then each subscriber gets exactly one digest, once both runs and their batches are done
    for subscriber in subscribers:
        wait_until(
            lambda subscriber=subscriber: mailsink.to(subscriber.email), 60, "a digest never arrived", live_worker
        )
    wait_until(
        lambda: all(f"[{run.id}] succeeded" in live_worker.output() for run in (first, second)),
        60,
        "a digest run never finished",
        live_worker,
    )
    wait_until(lambda: digest_batches_in_flight(live_worker.output()) == 0, 60, "batches never ran", live_worker)
    assert [len(mailsink.to(subscriber.email)) for subscriber in subscribers] == [1, 1, 1]
