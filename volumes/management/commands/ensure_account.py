"""Make sure someone can sign in: create an administrator when there is no account yet."""
import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first account (an administrator) if none exists, and say how to sign in."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("VOLUMES_ADMIN_USERNAME", "admin"))
        parser.add_argument("--url", default=os.environ.get("VOLUMES_SITE_URL", "http://127.0.0.1:8000/"),
                            help="where to sign in (default: $VOLUMES_SITE_URL)")

    def handle(self, *args, username, url, **options):
        # How this installation runs manage.py: `.venv/bin/python manage.py` by `make run`, set by the
        # image and docker-compose.yml for containers.
        manage = os.environ.get("VOLUMES_MANAGE_COMMAND", ".venv/bin/python manage.py")
        users = get_user_model()
        if users.objects.exists():
            self.stdout.write(
                f"Sign in at {url} with your account. Forgotten password: {manage} changepassword {username}"
            )
            return
        password = os.environ.get("VOLUMES_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(self.style.SUCCESS(
            f"Created the first account. Sign in at {url} as {username!r} with password {password!r} "
            f"(shown once; change it with: {manage} changepassword {username})"
        ))
