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


def test_the_sign_in_address_and_the_password_command_follow_the_installation(capsys, monkeypatch):
    monkeypatch.setenv("VOLUMES_SITE_URL", "https://volumes.example.org/")
    monkeypatch.setenv("VOLUMES_MANAGE_COMMAND", "docker compose exec web python manage.py")
    monkeypatch.setenv("VOLUMES_ADMIN_PASSWORD", "a-given-long-secret-7")
    call_command("ensure_account")
    output = capsys.readouterr().out
    assert "Sign in at https://volumes.example.org/ as 'admin' with password 'a-given-long-secret-7'" in output
    assert "change it with: docker compose exec web python manage.py changepassword admin" in output
    assert get_user_model().objects.get().check_password("a-given-long-secret-7")


def test_a_local_run_points_to_the_virtual_environment(capsys, monkeypatch):
    monkeypatch.delenv("VOLUMES_MANAGE_COMMAND", raising=False)
    get_user_model().objects.create_user("ada", password="a-long-secret-1")
    call_command("ensure_account", "--username", "ada")
    assert "Forgotten password: .venv/bin/python manage.py changepassword ada" in capsys.readouterr().out
