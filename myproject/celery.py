"""The Celery application: configured from Django settings (CELERY_ namespace), tasks autodiscovered."""

import os

import click
from celery import Celery, signals
from click.core import ParameterSource

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")

app = Celery("myproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# `celery call` and friends load the django-db result backend before any worker fixup has set Django up;
# a preload option with a default makes Celery send user_preload_options for every command.
app.user_options["preload"].add(
    click.Option(["--django-setup/--no-django-setup"], default=True, help="Set Django up before the command.")
)


@signals.user_preload_options.connect
def set_up_django_for_commands(options, **_kwargs):
    if options.get("django_setup"):
        import django

        django.setup()


@signals.setup_logging.connect
def use_django_logging(**_kwargs):
    """Connected so Celery leaves logging alone: django.setup() already applied settings.LOGGING."""


@signals.celeryd_init.connect
def add_worker_heartbeat(**_kwargs):
    from core.operations.health import WorkerHeartbeat

    app.steps["worker"].add(WorkerHeartbeat)


@signals.worker_init.connect
def prefetch_of_its_queues(sender, **_kwargs):
    """The prefetch of the queues the worker serves (core.tasking.policy), unless its command line sets one."""
    from core.tasking.policy import queue_prefetch_multiplier

    # The command line's option defaults to the setting: only its source tells whether it was given.
    command = click.get_current_context(silent=True)
    if command is not None and command.get_parameter_source("prefetch_multiplier") is ParameterSource.COMMANDLINE:
        return
    queues = sender.app.amqp.queues.consume_from or sender.app.amqp.queues
    sender.prefetch_multiplier = queue_prefetch_multiplier(queues, sender.prefetch_multiplier)


@signals.celeryd_init.connect
def count_task_events(**_kwargs):
    from core.operations.metrics import task_signals_connect

    task_signals_connect()


@signals.worker_process_init.connect
def trace_pool_process(**_kwargs):
    """Each pool process runs the tasks, so each sets up its own tracing (core/operations/tracing.py)."""
    from core.operations.tracing import tracing_init

    tracing_init("worker")


@signals.worker_process_shutdown.connect
def flush_pool_process_traces(**_kwargs):
    from core.operations.tracing import tracing_flush

    tracing_flush()


@signals.beat_init.connect
def trace_beat(**_kwargs):
    from core.operations.tracing import tracing_init

    tracing_init("beat")
