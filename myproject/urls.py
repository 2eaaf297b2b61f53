"""Top-level URLs."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from core.operations.metrics import metrics_view
from core.operations.views_health import healthz, healthz_system
from myproject.views import SignOutView, favicon
from notifications import views_staff as newsletters

newsletter_urls = [
    path("", newsletters.newsletter_list, name="list"),
    path("send/", newsletters.newsletter_send, name="send"),
    path("<int:pk>/", newsletters.newsletter_detail, name="detail"),
    path("<int:pk>/progress/", newsletters.newsletter_progress_partial, name="progress"),
    path("<int:pk>/cancel/", newsletters.newsletter_cancel, name="cancel"),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="orders:list"), name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", SignOutView.as_view(), name="logout"),
    path("favicon.ico", favicon),
    path("orders/", include("orders.urls")),
    path("notifications/", include("notifications.urls")),
    path("operations/", include("core.operations.urls")),
    path("newsletters/", include((newsletter_urls, "newsletters"))),
    path("imports/", include("accounts.urls")),
    path("healthz", healthz, name="healthz"),
    path("healthz/system", healthz_system, name="healthz_system"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
]
