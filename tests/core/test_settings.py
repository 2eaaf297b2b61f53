"""Settings read from the environment: production passes Django's deploy checks, and unsafe or missing
values are refused."""

import json
import os
import subprocess
import sys

from tests.support.processes import ROOT

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k3y-" + "Zq9xW7vR2mT5nB8cL1pF4hJ6gD0sA3eY" * 2,
    "DJANGO_ALLOWED_HOSTS": "shop.example.com",
    "DJANGO_SECURE_SSL_REDIRECT": "1",
}


def environment_without_django_variables(**env: str) -> dict[str, str]:
    """The test run's environment minus its own Django/Celery settings, plus the given ones."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CELERY_"))}
    return environment | env


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment_without_django_variables(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def setting(name: str, **env: str) -> str:
    result = run_python(f"from django.conf import settings; print(settings.{name})", **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_production_settings_pass_the_deploy_checks():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment_without_django_variables(**PRODUCTION),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_settings_refuse_to_load_without_a_secret_key_when_debug_is_off():
    result = run_python("import django; django.setup()", DJANGO_SETTINGS_MODULE="myproject.settings", DJANGO_DEBUG="0")

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_broker_defaults_to_redis_url():
    broker = setting(
        "CELERY_BROKER_URL",
        DJANGO_SETTINGS_MODULE="myproject.settings",
        **PRODUCTION,
        REDIS_URL="redis://cache.internal:6379/3",
    )

    assert broker == "redis://cache.internal:6379/3"


def test_an_amqp_broker_url_is_accepted():
    amqp = "amqp://shop:secret@rabbitmq.internal:5672/shop"

    result = run_python(
        "from myproject.celery import app; print(app.connection_for_write().transport_cls)",
        DJANGO_SETTINGS_MODULE="myproject.settings",
        CELERY_BROKER_URL=amqp,
        **PRODUCTION,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "amqp"


def test_cookies_are_secure_whenever_debug_is_off_even_without_the_https_redirect():
    # a TLS-terminating proxy may redirect to HTTPS itself, so the app's redirect is off
    production_behind_a_redirecting_proxy = PRODUCTION | {"DJANGO_SECURE_SSL_REDIRECT": "0"}
    assert "DJANGO_SECURE_COOKIES" not in production_behind_a_redirecting_proxy

    for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
        assert (
            setting(name, DJANGO_SETTINGS_MODULE="myproject.settings", **production_behind_a_redirecting_proxy)
            == "True"
        )
        assert setting(name, DJANGO_SETTINGS_MODULE="myproject.settings", DJANGO_DEBUG="1") == "False"


def test_files_go_to_a_private_bucket_when_one_is_named_and_to_the_media_folder_otherwise():
    show = (
        "import json, django; django.setup(); from django.core.files.storage import storages; s = storages['default']; "
        "print(json.dumps([type(s).__name__, *(str(getattr(s, name, '-')) for name in "
        "('bucket_name', 'default_acl', 'querystring_expire', 'file_overwrite'))]))"
    )
    env = {"DJANGO_SETTINGS_MODULE": "myproject.settings", "DJANGO_DEBUG": "1"}

    with_bucket = run_python(show, **env, AWS_STORAGE_BUCKET_NAME="shop-files", AWS_S3_ENDPOINT_URL="http://minio:9000")
    without = run_python(show, **env)

    assert with_bucket.returncode == 0, with_bucket.stderr
    # no ACL: objects are as private as the bucket; a URL made anyway expires in 5 minutes; nothing overwritten
    assert json.loads(with_bucket.stdout) == ["S3Storage", "shop-files", "None", "300", "False"]
    assert json.loads(without.stdout)[0] == "FileSystemStorage", without.stderr
