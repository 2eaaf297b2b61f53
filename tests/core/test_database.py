"""Bookkeeping writes (core/database.py): one round trip each, outside a transaction; a savepoint inside one."""

import pytest
from django.db import DatabaseError, transaction

from core.database import bookkeeping_update, bookkeeping_upsert
from core.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_upsert_inserts_then_updates_only_the_named_fields():
    bookkeeping_upsert(Job(id="t1", task_name="a.task", worker="one"), update_fields=["worker"])
    bookkeeping_upsert(Job(id="t1", task_name="b.task", worker="two"), update_fields=["worker"])

    job = Job.objects.get(pk="t1")
    assert (job.task_name, job.worker) == ("a.task", "two")


def test_a_refused_write_leaves_the_connection_usable():
    Job.objects.create(id="t1", task_name="a.task")

    with pytest.raises(DatabaseError):
        bookkeeping_update(Job.objects.filter(pk="t1"), task_name="x" * 500)  # longer than the column

    # the aborted transaction was ended: the next queries run
    bookkeeping_update(Job.objects.filter(pk="t1"), worker="w")
    assert Job.objects.get(pk="t1").worker == "w"


def test_inside_a_transaction_it_commits_or_rolls_back_with_it():
    Job.objects.create(id="t1", task_name="a.task")

    with pytest.raises(RuntimeError), transaction.atomic():
        bookkeeping_update(Job.objects.filter(pk="t1"), worker="w")
        raise RuntimeError("the caller's transaction fails")

    assert Job.objects.get(pk="t1").worker == ""
