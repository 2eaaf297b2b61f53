"""Times as people read them: in the project's zone (settings.TIME_ZONE) and in one format, the same one the
templates use through the `shown_time` filter. Python code formatting an aware datetime with
an f-string would print it in UTC."""

from datetime import date, datetime

from django.utils import dateformat, timezone

# Django's date-format syntax, so Python and templates share one spelling.
TIME_FORMAT = "Y-m-d H:i"
DATE_FORMAT = "Y-m-d"


def format_time(value: datetime) -> str:
    return dateformat.format(timezone.localtime(value), TIME_FORMAT)


def format_date(value: datetime | date) -> str:
    """The day in the project's zone: a datetime late in the UTC evening is already tomorrow in Berlin."""
    day = timezone.localdate(value) if isinstance(value, datetime) else value
    return dateformat.format(day, DATE_FORMAT)
