"""Every endpoint of the operator side: the Operations pages, the health probes and the Prometheus scrape."""

from django.urls import include, path

from core.operations import views, views_health
from core.operations.metrics import metrics_view

operations_pages = [
    path("", views.operations, name="index"),
    path("live/", views.operations_live, name="live"),
    path("dead-letters/<int:pk>/retry/", views.dead_letter_retry_view, name="dead_letter_retry"),
]

urlpatterns = [
    path("operations/", include((operations_pages, "operations"))),
    path("healthz", views_health.healthz, name="healthz"),
    path("healthz/system", views_health.healthz_system, name="healthz_system"),
    path("metrics", metrics_view, name="metrics"),
]
