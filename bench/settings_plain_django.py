"""A plain Django project's settings for the bare and peer workers: the bench's database, nothing of this project.

Under myproject.settings, Django imports the project package, whose Celery module connects the project's worker
hooks (task metrics, heartbeats, tracing) to every worker started in that process: the yardsticks would pay
for the project's bookkeeping."""

import os

import dj_database_url

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
INSTALLED_APPS: list[str] = []
USE_TZ = True
