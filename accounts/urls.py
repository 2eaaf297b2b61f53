"""URLs of the contact import pages."""

from django.urls import path

from accounts import views

app_name = "imports"
urlpatterns = [
    path("", views.import_list, name="list"),
    path("upload/", views.import_upload, name="upload"),
    path("<int:pk>/", views.import_detail, name="detail"),
    path("<int:pk>/progress/", views.import_progress_partial, name="progress"),
    path("<int:pk>/errors.csv", views.import_errors_download, name="errors"),
]
