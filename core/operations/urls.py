"""URLs of the operator pages."""

from django.urls import path

from core.operations import views

app_name = "operations"
urlpatterns = [
    path("", views.operations, name="index"),
    path("live/", views.operations_live, name="live"),
    path("dead-letters/<int:pk>/retry/", views.dead_letter_retry_view, name="dead_letter_retry"),
]
