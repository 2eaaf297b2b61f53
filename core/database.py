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
    bookkeeping_upsert_many([row], update_fields=update_fields)


# Rows per statement of bookkeeping_upsert_many: one compiled statement per count up to this, at most.
UPSERT_ROWS_PER_STATEMENT = 100


def bookkeeping_upsert_many(rows: Sequence[Model], *, update_fields: list[str]) -> None:
    """bookkeeping_upsert of rows of one model with distinct primary keys, up to UPSERT_ROWS_PER_STATEMENT per
    statement, all in one transaction."""
    model = type(rows[0])
    fields = model._meta.concrete_fields
    statements, params = [], []
    for start in range(0, len(rows), UPSERT_ROWS_PER_STATEMENT):
        chunk = rows[start : start + UPSERT_ROWS_PER_STATEMENT]
        statement, one_array_per_field = _upsert_statement(model, tuple(update_fields), len(chunk))
        values = [[field.get_db_prep_save(field.pre_save(row, True), connection) for field in fields] for row in chunk]
        statements.append(statement)
        params += (
            [list(column) for column in zip(*values, strict=True)]
            if one_array_per_field
            else [value for row_values in values for value in row_values]
        )
    _commit_without_waiting_for_disk("; ".join(statements), params)


@functools.cache
def _upsert_statement(model: type[Model], update_fields: tuple[str, ...], count: int) -> tuple[str, bool]:
    """The upsert of `count` rows of `model` as Django compiles it, and whether it takes one array per field
    (PostgreSQL's `UNNEST` form of several rows) instead of one placeholder per field of each row."""
    meta = model._meta
    query = InsertQuery(
        model,
        on_conflict=OnConflict.UPDATE,
        update_fields=[meta.get_field(name) for name in update_fields],
        unique_fields=[meta.pk],
    )
    query.insert_values(meta.concrete_fields, [model() for _row in range(count)])
    [(statement, params)] = query.get_compiler(connection=connection).as_sql()
    fields = len(meta.concrete_fields)
    if len(params) == count * fields:
        return statement, False
    if count > 1 and len(params) == fields and all(isinstance(column, list) for column in params):
        return statement, True
    # A field compiled to an expression: the statement is not reusable for other rows.
    raise ValueError(f"{meta.label}: a bookkeeping row needs one plain value per field")


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
