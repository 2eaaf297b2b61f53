"""Every endpoint of notifications: the unsubscribe link in each email, and the staff's newsletter pages."""

from django.urls import include, path

from notifications import views, views_staff

subscriber_pages = [
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]

newsletter_pages = [
    path("", views_staff.newsletter_list, name="list"),
    path("send/", views_staff.newsletter_send, name="send"),
    path("<int:pk>/", views_staff.newsletter_detail, name="detail"),
    path("<int:pk>/progress/", views_staff.newsletter_progress_partial, name="progress"),
    path("<int:pk>/cancel/", views_staff.newsletter_cancel, name="cancel"),
]

urlpatterns = [
    path("notifications/", include((subscriber_pages, "notifications"))),
    path("newsletters/", include((newsletter_pages, "newsletters"))),
]
