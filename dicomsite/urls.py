from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.views import serve as serve_static_file
from django.urls import include, path, re_path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("volumes.urls")),
]

if settings.SERVE_STATIC:
    urlpatterns += [
        re_path(r"^static/(?P<path>.*)$", serve_static_file, {"insecure": True}),
    ]

handler400 = "volumes.views.bad_request"
