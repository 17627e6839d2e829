"""Who gets into the API: personal tokens (created, used, revoked), throttling, lock-out after failures."""
import hashlib

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from volumes.models import ApiToken, Measurement

from .conftest import SEED_FILE, SEED_VOXELS

pytestmark = pytest.mark.django_db

LIST_URL = "/api/measurements/"


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("ada", password="a-long-secret-1")


@pytest.fixture
def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def create_token(client, name: str) -> str:
    """Create a token on the account page; return the key the page shows once."""
    response = client.post(reverse("volumes:account"), {"name": name})
    assert response.status_code == 200
    return response.context["created_key"]


def bearer(key: str, keyword: str = "Bearer") -> Client:
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"{keyword} {key}")


def test_a_token_created_on_the_account_page_is_shown_once_and_kept_only_as_a_hash(signed_in, user):
    response = signed_in.post(reverse("volumes:account"), {"name": "lab laptop"})
    key = response.context["created_key"]
    assert key in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.prefix) == (user, "lab laptop", key[:8])
    assert token.key_sha256 == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(ApiToken.objects.values_list())
    page = signed_in.get(reverse("volumes:account")).content.decode()
    assert "lab laptop" in page and f"{key[:8]}…" in page
    assert key not in page


def test_a_token_needs_a_name(signed_in):
    response = signed_in.post(reverse("volumes:account"), {"name": ""})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_a_token_signs_in_the_api_and_its_use_is_recorded(signed_in, django_capture_on_commit_callbacks):
    key = create_token(signed_in, "script")
    client = bearer(key)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(LIST_URL, {"files": [SimpleUploadedFile("1-101.dcm", SEED_FILE.read_bytes())]})
    assert response.status_code == 202
    (created,) = response.json()["measurements"]
    result = client.get(created["url"]).json()
    assert result["voxels_above"] == SEED_VOXELS
    assert ApiToken.objects.get().last_used_at is not None


def test_the_picture_is_fetched_with_the_token_and_refused_without(signed_in, django_capture_on_commit_callbacks):
    key = create_token(signed_in, "script")
    with django_capture_on_commit_callbacks(execute=True):
        created = bearer(key).post(LIST_URL, {"files": [SimpleUploadedFile("1-101.dcm", SEED_FILE.read_bytes())]})
    measurement_url = created.json()["measurements"][0]["url"]
    thumbnail_url = bearer(key).get(measurement_url).json()["thumbnail_url"]
    picture = bearer(key, "Token").get(thumbnail_url)
    assert picture.status_code == 200 and picture["Content-Type"] == "image/png"
    assert b"".join(picture.streaming_content).startswith(b"\x89PNG")
    refused = Client().get(thumbnail_url)
    assert refused.status_code == 401
    assert refused.json()["error"].startswith("Sign in first")


def test_a_revoked_token_is_refused_and_listed_as_revoked(signed_in):
    key = create_token(signed_in, "old script")
    assert bearer(key).get(LIST_URL).status_code == 200
    token = ApiToken.objects.get()
    response = signed_in.post(reverse("volumes:api-token-revoke", args=[token.pk]))
    assert response.status_code == 302
    refused = bearer(key).get(LIST_URL)
    assert refused.status_code == 401
    assert refused.json() == {"error": "This API token is unknown or revoked."}
    assert "revoked" in signed_in.get(reverse("volumes:account")).content.decode()


def test_another_user_cannot_revoke_a_token(signed_in, user):
    key = create_token(signed_in, "mine")
    token = ApiToken.objects.get()
    other = Client()
    other.force_login(get_user_model().objects.create_user("bob", password="a-long-secret-3"))
    assert other.post(reverse("volumes:api-token-revoke", args=[token.pk])).status_code == 404
    assert bearer(key).get(LIST_URL).status_code == 200


def test_a_deactivated_users_token_is_refused(signed_in, user):
    key = create_token(signed_in, "script")
    user.is_active = False
    user.save()
    assert bearer(key).get(LIST_URL).status_code == 401


def test_requests_past_the_users_rate_get_429_with_retry_after(signed_in, settings):
    settings.VOLUMES_API_RATES = {"user": "3/minute", "address": "100/minute"}
    key = create_token(signed_in, "script")
    client = bearer(key)
    assert [client.get(LIST_URL).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get(LIST_URL)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert refused.json()["error"].startswith("Too many requests; try again in")
    # another user is not slowed down by the first one's requests
    other = Client()
    other.force_login(get_user_model().objects.create_user("bob", password="a-long-secret-3"))
    assert other.get(LIST_URL).status_code == 200


def test_requests_past_the_address_rate_get_429_even_without_sign_in(settings):
    settings.VOLUMES_API_RATES = {"user": "100/minute", "address": "2/minute"}
    client = Client()
    assert [client.get(LIST_URL).status_code for _ in range(2)] == [401, 401]
    refused = client.get(LIST_URL)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert set(refused.json()) == {"error"}
    assert Client(REMOTE_ADDR="10.0.0.9").get(LIST_URL).status_code == 401  # another address is not refused
    # a header the client writes itself does not make it another address
    assert Client(HTTP_X_FORWARDED_FOR="10.9.9.9").get(LIST_URL).status_code == 429


def test_failed_tokens_lock_the_address_out_even_for_a_good_token(signed_in, settings):
    settings.AXES_FAILURE_LIMIT = 3
    key = create_token(signed_in, "script")
    answers = [bearer(f"guess-{n}").get(LIST_URL) for n in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429]
    locked = bearer(key).get(LIST_URL)
    assert locked.status_code == 429
    assert locked.json() == {"error": "Too many failed sign-ins from here; try again later."}
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME * 3600
    assert Client(REMOTE_ADDR="10.0.0.9", HTTP_AUTHORIZATION=f"Bearer {key}").get(LIST_URL).status_code == 200


def test_failed_sign_ins_on_the_page_lock_the_account_out_even_with_the_right_password(user, settings):
    settings.AXES_FAILURE_LIMIT = 5
    client = Client()
    for n in range(4):
        response = client.post(reverse("login"), {"username": "ada", "password": f"wrong-{n}"})
        assert response.status_code == 200 and "didn't match" in response.content.decode()
    fifth = client.post(reverse("login"), {"username": "ada", "password": "wrong-4"})
    assert fifth.status_code == 429
    right = client.post(reverse("login"), {"username": "ada", "password": "a-long-secret-1"})
    assert right.status_code == 429
    assert "Sign-in locked" in right.content.decode()
    assert int(right["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session
    assert not Measurement.objects.exists()


def test_failed_sign_ins_on_the_admin_page_lock_the_staff_account_out(settings):
    settings.AXES_FAILURE_LIMIT = 3
    get_user_model().objects.create_user("clerk", password="a-long-secret-4", is_staff=True)
    client = Client()
    answers = [client.post(reverse("admin:login"), {"username": "clerk", "password": f"wrong-{n}"}) for n in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    right = client.post(reverse("admin:login"), {"username": "clerk", "password": "a-long-secret-4"})
    assert right.status_code == 429 and int(right["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw_whatever_the_client_wrote(signed_in, settings):
    settings.VOLUMES_PROXY_COUNT = 1
    settings.VOLUMES_API_RATES = {"user": "100/minute", "address": "2/minute"}
    settings.AXES_FAILURE_LIMIT = 3
    key = create_token(signed_in, "script")

    def through_proxy(client_wrote: str, client: str, **headers) -> Client:
        return Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"{client_wrote}, {client}", **headers)

    assert [through_proxy(f"1.1.1.{n}", "203.0.113.7").get(LIST_URL).status_code for n in range(3)] == [401, 401, 429]
    assert through_proxy("1.1.1.1", "203.0.113.8").get(LIST_URL).status_code == 401  # another client of the proxy
    guesses = [through_proxy(f"2.2.2.{n}", "198.51.100.5", HTTP_AUTHORIZATION=f"Bearer guess-{n}").get(LIST_URL)
               for n in range(3)]
    assert [g.status_code for g in guesses] == [401, 401, 429]
    good = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert through_proxy("9.9.9.9", "198.51.100.5", **good).get(LIST_URL).status_code == 429  # locked out
    assert through_proxy("9.9.9.9", "198.51.100.6", **good).get(LIST_URL).status_code == 200  # the others are not
