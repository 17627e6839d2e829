"""Make sure someone can sign in: create an administrator when there is no account yet."""
import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first account (an administrator) if none exists, and say how to sign in."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("VOLUMES_ADMIN_USERNAME", "admin"))
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args, username, url, **options):
        users = get_user_model()
        if users.objects.exists():
            self.stdout.write(
                f"Sign in at {url} with your account. Forgotten password: "
                f".venv/bin/python manage.py changepassword {username}"
            )
            return
        password = os.environ.get("VOLUMES_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(self.style.SUCCESS(
            f"Created the first account. Sign in at {url} as {username!r} with password {password!r} "
            "(shown once; change it in the admin)."
        ))
