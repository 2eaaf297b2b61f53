#!/bin/sh
# Entrypoint of every Django/Celery container. It ends in exec so the service's command replaces this shell
# as PID 1 and receives SIGTERM from `docker compose stop` itself (Celery's warm shutdown needs it).
set -e
umask 0027
exec "$@"
