"""Top-level URLs: sign-in and out, and each package's own urls module."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from myproject.views import SignOutView, favicon

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="orders:list"), name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", SignOutView.as_view(), name="logout"),
    path("favicon.ico", favicon),
    path("orders/", include("orders.urls")),
    path("imports/", include("accounts.urls")),
    path("", include("notifications.urls")),
    path("", include("core.operations.urls")),
    path("", include("finance.urls")),
    path("admin/", admin.site.urls),
]
