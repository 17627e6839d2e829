import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_first_run_creates_an_administrator_and_prints_the_password(capsys):
    call_command("ensure_account", "--url", "http://127.0.0.1:8000/")
    output = capsys.readouterr().out
    admin = get_user_model().objects.get()
    assert admin.username == "admin" and admin.is_superuser and admin.is_staff
    password = output.split("with password '")[1].split("'")[0]
    assert admin.check_password(password)


def test_later_runs_create_nothing_and_say_how_to_sign_in(capsys):
    get_user_model().objects.create_user("ada", password="a-long-secret-1")
    call_command("ensure_account")
    assert get_user_model().objects.count() == 1
    assert "Sign in at http://127.0.0.1:8000/ with your account" in capsys.readouterr().out
