"""URLs of the operator pages."""

from django.urls import path

from core import views_operations

app_name = "operations"
urlpatterns = [
    path("", views_operations.operations, name="index"),
    path("live/", views_operations.operations_live, name="live"),
    path("dead-letters/<int:pk>/retry/", views_operations.dead_letter_retry_view, name="dead_letter_retry"),
]
