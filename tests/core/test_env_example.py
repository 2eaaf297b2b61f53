"""`.env.example` documents every environment variable the project reads."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READERS = [
    "myproject/settings.py",
    "gunicorn.conf.py",
    "core/operations/flower.py",
    "core/operations/probes.py",
    "core/operations/health.py",
    "core/operations/trace_viewer.py",
]


def variables_read() -> set[str]:
    names = set()
    for path in READERS:
        source = (ROOT / path).read_text()
        names |= set(re.findall(r'(?:environ\.get|environ\[|env_bool|env_list)\(?"([A-Z][A-Z0-9_]+)"', source))
        for prefix in re.findall(r'environ\.get\(f"([A-Z_]+)\{', source):
            names |= {f"{prefix}{queue}" for queue in ("DEFAULT", "EMAIL", "BULK")}
    return names - {"DJANGO_SETTINGS_MODULE"}


def test_every_variable_read_is_documented_in_env_example():
    documented = set(re.findall(r"^#?\s*(?:prod:\s*)?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))

    read = variables_read()

    assert {
        "DJANGO_SECRET_KEY",
        "DATABASE_URL",
        "METRICS_TOKEN",
        "QUEUE_DEPTH_THRESHOLD_BULK",
        "WEB_CONCURRENCY",
    } <= read
    assert read - documented == set()
