"""Styled error pages with the site's navigation, as served with DEBUG off (pytest-django's default)."""
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import include, path, reverse

pytestmark = pytest.mark.django_db


def broken_view(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [
    path("broken/", broken_view),
    path("", include("dicomsite.urls")),
]


@pytest.fixture
def signed_in(client):
    client.force_login(get_user_model().objects.create_user("ada", password="a-long-secret-1"))
    return client


def test_a_missing_page_is_styled_and_offers_the_way_back(signed_in, settings):
    assert settings.DEBUG is False
    response = signed_in.get(reverse("volumes:measurement-detail", args=[999]))
    assert response.status_code == 404
    page = response.content.decode()
    assert "<h1>Page not found</h1>" in page
    assert '<nav aria-label="Main">' in page and "Sign out" in page
    assert f'href="{reverse("volumes:measurement-list")}"' in page
    assert "volumes/style.css" in page


@pytest.mark.urls("tests.test_error_pages")
def test_a_server_error_is_styled_and_offers_the_way_back(caplog):
    client = Client(raise_request_exception=False)
    response = client.get("/broken/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page
    assert 'href="/measurements/"' in page and 'href="/"' in page
    assert "volumes/style.css" in page
    assert "a bug in a view" not in page
