from django.contrib import admin
from django.contrib.auth import urls as auth_urls
from django.urls import include, path

from volumes.views import offered_with_mail_only


def account_patterns():
    """Django's sign-in, sign-out and password pages; the password-reset ones answer 404 without mail."""
    for pattern in auth_urls.urlpatterns:
        if pattern.name.startswith("password_reset"):
            yield path(str(pattern.pattern), offered_with_mail_only(pattern.callback), name=pattern.name)
        else:
            yield pattern


urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include(list(account_patterns()))),
    path("", include("volumes.urls")),
]

handler400 = "volumes.views.bad_request"
