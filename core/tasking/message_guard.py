"""The worker's guard against unreadable task messages: each is acknowledged, kept as a dead letter with its raw
body and headers, and logged once, and the worker keeps serving.

Why: Celery checks a message only partly before it builds a request in the worker's main process. A body that
is not protocol 2's [args, kwargs, embed] ("too many values to unpack" in celery/worker/request.py) or a
`timelimit` header that is not two numbers raises outside the errors `create_task_handler` catches, which kills
the worker; the unacknowledged message then kills every worker that receives it. The errors Celery does catch
(unknown task, invalid ETA, disallowed content) reject the message without requeue: gone, with nothing but a
log line. Installed through CELERY_WORKER_CONSUMER.
"""

import json
import logging
import numbers
from traceback import format_exc

from celery.utils.time import maybe_iso8601
from celery.worker.consumer import Consumer
from django.db import close_old_connections
from kombu.serialization import prepare_accept_content
from vine import promise

logger = logging.getLogger(__name__)

# Headers Celery reads in the main process, by the types it can read them as (protocol 2).
OPTIONAL_TEXT_HEADERS = ("argsrepr", "kwargsrepr", "root_id", "parent_id", "group", "shadow", "origin")
EMBED_LISTS = ("callbacks", "errbacks", "chain")


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _header_problem(headers: dict) -> str | None:
    if not isinstance(headers.get("id"), str):
        return "the id header is missing or not text"
    timelimit = headers.get("timelimit")
    if timelimit is not None and not (
        isinstance(timelimit, (list, tuple))
        and len(timelimit) == 2
        and all(limit is None or _is_number(limit) for limit in timelimit)
    ):
        return f"the timelimit header is not two numbers: {timelimit!r}"
    for name in ("eta", "expires"):
        value = headers.get(name)
        if value is not None:
            try:
                maybe_iso8601(value)
            except (AttributeError, ValueError, TypeError):
                return f"the {name} header is not an ISO 8601 time: {value!r}"
    retries = headers.get("retries")
    if retries is not None and not (isinstance(retries, int) and not isinstance(retries, bool)):
        return f"the retries header is not a whole number: {retries!r}"
    for name in OPTIONAL_TEXT_HEADERS:
        if headers.get(name) is not None and not isinstance(headers[name], str):
            return f"the {name} header is not text: {headers[name]!r}"
    return None


def _body_problem(body) -> str | None:
    if not (isinstance(body, (list, tuple)) and len(body) == 3):
        return f"the body is not the three-element list [args, kwargs, embed]: a {type(body).__name__}"
    args, kwargs, embed = body
    if not isinstance(args, (list, tuple)):
        return f"the args are not a list: a {type(args).__name__}"
    if not isinstance(kwargs, dict):
        return f"the kwargs are not an object: a {type(kwargs).__name__}"
    if embed is not None and not isinstance(embed, dict):
        return f"the embed is not an object: a {type(embed).__name__}"
    for name in EMBED_LISTS:
        if (embed or {}).get(name) is not None and not isinstance(embed[name], list):
            return f"the embed's {name} is not a list"
    if (embed or {}).get("chord") is not None and not isinstance(embed["chord"], dict):
        return "the embed's chord is not an object"
    return None


def message_problem(message, *, registered_tasks, accepted_content_types) -> str | None:
    """Why a worker could not run this message, or None when it can."""
    headers = message.headers
    if not isinstance(headers, dict):
        return "the headers are not an object"
    task_name = headers.get("task")
    if not isinstance(task_name, str):
        return "the task header is missing or not text"
    if task_name not in registered_tasks:
        return f"no task is registered as {task_name!r}"
    problem = _header_problem(headers)
    if problem:
        return problem
    if message.content_type not in accepted_content_types:
        return f"the content type {message.content_type!r} is not accepted"
    encoding = (message.content_encoding or "utf-8").lower()
    if message.content_type == "application/json" and encoding not in ("utf-8", "utf8"):
        # kombu reads JSON as UTF-8 whatever the message claims: one claiming another encoding is not ours.
        return f"the content encoding {message.content_encoding!r} is not UTF-8, the encoding of JSON"
    try:
        body = message.decode()
    except Exception as exc:  # whatever the serializer or the codec raises, the body cannot be read
        return f"the body cannot be decoded ({message.content_encoding!r}): {exc!r}"
    return _body_problem(body)


def _as_text(raw) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="backslashreplace")
    # PostgreSQL text cannot hold NUL characters.
    return str(raw).replace("\x00", "\\x00")


def dead_letter_message(message, problem: str, traceback: str = "") -> None:
    """Keep the message for a person, then acknowledge it: it must never come back to a worker."""
    from core.tasking.deadletters import dead_letter_record_malformed

    headers = message.headers if isinstance(message.headers, dict) else {}
    task_name = headers.get("task")
    try:
        # The worker's main process writes rarely: treat each write like a request, with a checked connection.
        close_old_connections()
        dead_letter_record_malformed(
            task_name=task_name if isinstance(task_name, str) else "(no task name)",
            queue=str((message.delivery_info or {}).get("routing_key") or ""),
            problem=problem,
            traceback=traceback,
            raw_headers=_as_text(json.dumps(message.headers, indent=2, sort_keys=True, default=repr)),
            raw_body=_as_text(message.body),
            content_type=str(message.content_type or ""),
            content_encoding=str(message.content_encoding or ""),
        )
    except Exception:
        # The database is down: the log line is the only copy of the message left.
        logger.exception(
            "unreadable message could not be dead-lettered (%s); headers=%r body=%r",
            problem,
            message.headers,
            message.body,
        )
    if not message.acknowledged:
        message.ack()


class GuardedConsumer(Consumer):
    """Celery's consumer, with every task message checked before Celery builds a request from it."""

    def create_task_handler(self, promise=promise):
        handle = super().create_task_handler(promise)
        registered_tasks = self.app.tasks
        accepted_content_types = prepare_accept_content(self.app.conf.accept_content)

        def on_task_received(message):
            problem = message_problem(
                message, registered_tasks=registered_tasks, accepted_content_types=accepted_content_types
            )
            if problem is None:
                try:
                    return handle(message)
                except self.connection_errors:
                    raise
                except Exception as exc:  # a shape the checks above do not know yet: still not the worker's end
                    dead_letter_message(message, f"the worker could not accept it: {exc!r}", format_exc())
                    return None
            dead_letter_message(message, problem)

        return on_task_received
