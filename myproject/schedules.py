"""Every periodic task, defined once. Migrations seed these rows into django-celery-beat's tables, where
admin can edit them; see core.tasking.schedules for how edits are kept and removed entries are dropped."""

from celery.schedules import crontab

PERIODIC_TASKS = {
    # Every hour, at five past.
    "Clean up expired carts": {"task": "orders.cleanup_expired_carts", "schedule": crontab(minute=5)},
    # Every 15 minutes.
    "Sync exchange rates": {"task": "finance.sync_exchange_rates", "schedule": crontab(minute="*/15")},
    # Every day at 06:00, for the day before.
    "Daily revenue report": {"task": "finance.daily_revenue_report", "schedule": crontab(hour=6, minute=0)},
    # Every day at 08:00.
    "Send daily digest": {"task": "notifications.send_daily_digest", "schedule": crontab(hour=8, minute=0)},
    # Every day at 02:00.
    "Clean up expired sessions": {"task": "accounts.cleanup_expired_sessions", "schedule": crontab(hour=2, minute=0)},
    # Every day at 02:30.
    "Delete expired import uploads": {
        "task": "accounts.cleanup_expired_import_uploads",
        "schedule": crontab(hour=2, minute=30),
    },
}
