"""Template context shared by every page."""

from django.conf import settings


def operator_links(request):
    user = getattr(request, "user", None)
    is_staff = bool(user and user.is_authenticated and user.is_staff)
    return {"operator": is_staff, "flower_url": settings.FLOWER_URL if is_staff else None}
