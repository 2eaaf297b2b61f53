"""The realistic task body, the same in the project, bare and peer apps: read one row, write one row, set one
Redis key, then record completion as the trivial task does. The table is the bench's own, created by the
harness with raw SQL, so no product model or migration exists for it."""

from django.db import connection

from bench import probes

COUNTER_TABLE = "bench_counter"
COUNTER_KEY = "bench:counter:{}"


def counter_table_create(rows: int) -> None:
    """One row per task of the largest run, so tasks never wait on each other's row lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {COUNTER_TABLE} "
            "(id integer PRIMARY KEY, hits bigint NOT NULL DEFAULT 0, touched_at timestamptz)"
        )
        cursor.execute(
            f"INSERT INTO {COUNTER_TABLE} (id) SELECT generate_series(0, %s - 1) ON CONFLICT (id) DO NOTHING",
            [rows],
        )


def counter_touch(counter_id: int) -> None:
    """Django's autocommit, as a task body that loads a row and saves it: the UPDATE commits on its own."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT hits FROM {COUNTER_TABLE} WHERE id = %s", [counter_id])
        (hits,) = cursor.fetchone()
        cursor.execute(
            f"UPDATE {COUNTER_TABLE} SET hits = %s, touched_at = now() WHERE id = %s", [hits + 1, counter_id]
        )
    probes.client().set(COUNTER_KEY.format(counter_id), hits + 1)
    probes.record_done()


def register_bench_tasks(app) -> None:
    """The trivial and the realistic task on a plain Celery app (bare, peer), named `<app>.record_done` and
    `<app>.counter_touch`: the same bodies as the project's bench tasks."""
    app.task(name=f"{app.main}.record_done")(probes.record_done)
    app.task(name=f"{app.main}.counter_touch")(counter_touch)
