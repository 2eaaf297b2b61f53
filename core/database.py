"""Bookkeeping writes: rows whose loss in a database crash costs a state shown on a page, never work or money.
Each is one statement committed without waiting for the disk, in one round trip to PostgreSQL."""

import functools
from collections.abc import Sequence

from django.db import DatabaseError, connection, transaction
from django.db.models import Model, QuerySet
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery, UpdateQuery


def bookkeeping_update(queryset: QuerySet, **fields) -> None:
    """`queryset.update(**fields)`, committed as bookkeeping."""
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(fields)
    _commit_without_waiting_for_disk(*query.get_compiler(connection=connection).as_sql())


def bookkeeping_upsert(row: Model, *, update_fields: list[str]) -> None:
    """Inserts `row`, or updates `update_fields` of the row with its primary key: `bulk_create([row],
    update_conflicts=True, ...)`, committed as bookkeeping. The statement is compiled once per model and fields,
    and each call only prepares the row's values: compiling it was most of a short task's job-row cost."""
    fields = type(row)._meta.concrete_fields
    statement = _upsert_statement(type(row), tuple(update_fields))
    params = [field.get_db_prep_save(field.pre_save(row, True), connection) for field in fields]
    _commit_without_waiting_for_disk(statement, params)


@functools.cache
def _upsert_statement(model: type[Model], update_fields: tuple[str, ...]) -> str:
    """The upsert of one row of `model` with a placeholder per concrete field, as Django compiles it."""
    meta = model._meta
    query = InsertQuery(
        model,
        on_conflict=OnConflict.UPDATE,
        update_fields=[meta.get_field(name) for name in update_fields],
        unique_fields=[meta.pk],
    )
    query.insert_values(meta.concrete_fields, [model()])
    [(statement, params)] = query.get_compiler(connection=connection).as_sql()
    if len(params) != len(meta.concrete_fields):  # a field compiled to an expression: not reusable for other rows
        raise ValueError(f"{meta.label}: a bookkeeping row needs one plain value per field")
    return statement


def _commit_without_waiting_for_disk(statement: str, params: Sequence) -> None:
    """One transaction whose commit does not wait for the disk (`synchronous_commit = off` for it alone), sent
    as one string: BEGIN, the setting, the statement, COMMIT. A crash of the database server, not of the caller,
    can lose the last fraction of a second of such commits. Inside another transaction it is a savepoint of it
    and commits with it, since the setting would apply to writes that may be anything."""
    if connection.in_atomic_block:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, params)
    else:
        _execute_as_one_transaction(statement, params)


def _execute_as_one_transaction(statement: str, params: Sequence) -> None:
    # Several statements in one execute need client-side parameter binding: Django's default for psycopg 3
    # (the database OPTIONS do not set server_side_binding).
    with connection.cursor() as cursor:
        try:
            cursor.execute(f"BEGIN; SET LOCAL synchronous_commit TO OFF; {statement}; COMMIT", params)
        except DatabaseError:
            # A statement that failed leaves its transaction open and aborted: end it, or every next query fails.
            cursor.execute("ROLLBACK")
            raise
