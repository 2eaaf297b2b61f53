"""Site-wide pages that belong to no app: signing out and the favicon."""

from django.contrib import messages
from django.contrib.auth.views import LogoutView
from django.shortcuts import redirect, render
from django.templatetags.static import static


class SignOutView(LogoutView):
    """Signs out on POST only, so a link, a prefetch or another site cannot sign anyone out; a GET (a typed or
    bookmarked /logout/) shows the button instead of a blank 405, and the login page then says it worked."""

    http_method_names = ["get", "post", "options"]

    def get(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect("login")
        return render(request, "registration/sign_out.html")

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.success(request, "You are signed out.")
        return response


def favicon(request):
    """Browsers and the admin ask for /favicon.ico whatever the page links; the icon itself is a static file."""
    return redirect(static("core/favicon.ico"))
