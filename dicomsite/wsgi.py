"""WSGI entry point, for gunicorn."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dicomsite.settings")

application = get_wsgi_application()

# What taking in an upload imports (the imaging pipeline, numpy's and scipy's modules) is imported as
# each web process starts, not by the first upload it serves (README: "An upload, piece by piece").
import dicomsite.urls  # noqa: E402,F401
import volumes.services.uploads  # noqa: E402,F401
