"""Log records carry the current task's id and name, so one line leads to its task in Flower."""

import logging

from celery import current_task


class TaskContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        task = current_task._get_current_object() if current_task else None
        request = getattr(task, "request", None)
        # Outside a task, Celery's own lines about one ("received", "retry in") name it in `data`.
        about = getattr(record, "data", None)
        about = about if isinstance(about, dict) else {}
        record.task_id = getattr(request, "id", None) or about.get("id") or "-"
        record.task_name = getattr(task, "name", None) or about.get("name") or "-"
        return True
