"""Fixtures for the notifications tests."""

import pytest


@pytest.fixture
def eager():
    """Tasks run in-process, for unit tests of task logic only."""
    from myproject.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False
