"""Nobody gets in where they do not belong: every URL of the URL conf, walked, answers 404 to another
user; pictures reach staff only through admin, with the view permission."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from volumes import services
from volumes.imaging.thresholds import ThresholdRequest
from volumes.models import ApiToken, Measurement

from .conftest import SEED_FILE

pytestmark = pytest.mark.django_db

PUBLIC = {
    "login", "logout", "password_reset", "password_reset_done", "password_reset_confirm", "password_reset_complete",
    "volumes:signup", "volumes:api-schema", "volumes:api-docs", "volumes:api-unknown", "static",
}
"""Open without signing in (or about signing in itself): nothing of anyone's data."""
OWN_ONLY = {
    "password_change", "password_change_done", "volumes:upload", "volumes:measurement-list",
    "volumes:api-measurement-list", "volumes:account", "volumes:measurement-list-csv",
}
"""Signed-in pages without an object in the URL: they show the signed-in user's own data only."""
ADMIN_NAMESPACE = "admin:"
"""Admin: staff only, by Django's model permissions (tested below)."""


def url_patterns(resolver=None, namespace: str = ""):
    """Every URL pattern of the URL conf, as (namespaced name, pattern)."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from url_patterns(pattern, inner)
        elif isinstance(pattern, URLPattern):
            name = pattern.name or ("static" if str(pattern.pattern).startswith("^static/") else "(unnamed)")
            yield namespace + name, pattern


def object_patterns() -> list[tuple[str, URLPattern]]:
    found = []
    for name, pattern in url_patterns():
        if name.startswith(ADMIN_NAMESPACE) or name in PUBLIC:
            continue
        if not pattern.pattern.converters:
            assert name in OWN_ONLY, f"{name}: a new URL without an object; add it to OWN_ONLY or PUBLIC"
            continue
        assert set(pattern.pattern.converters) in ({"pk"}, {"pk", "number"}), f"{name}: teach this test its URL's arguments"
        found.append((name, pattern))
    return found


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("ada", password="a-long-secret-1")


@pytest.fixture
def owned_ids(owner, django_capture_on_commit_callbacks) -> set[int]:
    """The ids of everything `owner` has: an upload, its study, series and measurement, a token."""
    with django_capture_on_commit_callbacks(execute=True):
        upload = services.upload_ingest(
            owner=owner,
            files=[SimpleUploadedFile("1-101.dcm", SEED_FILE.read_bytes())],
            request=ThresholdRequest(mode="normalized", value=0.5),
        )
    measurement = upload.measurements.get()
    token, _ = services.token_create(user=owner, name="ada-laptop-token")
    series = measurement.series
    return {upload.pk, measurement.pk, series.pk, series.study.pk, token.pk}


def test_the_walk_finds_the_object_urls():
    names = {name for name, _ in object_patterns()}
    assert {"volumes:measurement-detail", "volumes:measurement-preview", "volumes:api-measurement-detail",
            "volumes:api-token-revoke", "volumes:upload-detail"} <= names


def intruder_client(kind: str) -> Client:
    """Someone who is not the owner: another user by session or by API token, staff with every model's
    view permission, a superuser (staff see others' data only through admin)."""
    if kind == "token":
        _, key = services.token_create(user=get_user_model().objects.create_user("eve"), name="eve's")
        return Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    if kind == "superuser":
        person = get_user_model().objects.create_superuser("root", password="a-long-secret-6")
    else:
        person = get_user_model().objects.create_user("bob", password="a-long-secret-3", is_staff=kind == "staff")
        if kind == "staff":
            person.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    client = Client()
    client.force_login(person)
    return client


@pytest.mark.parametrize("kind", ["session", "token", "staff", "superuser"])
def test_every_object_url_answers_404_to_another_user(owner, owned_ids, kind):
    intruder = intruder_client(kind)
    rightful = Client()
    rightful.force_login(owner)
    for name, pattern in object_patterns():
        reached = False
        for pk in sorted(owned_ids):
            arguments = {"pk": pk, **({"number": 1} if "number" in pattern.pattern.converters else {})}
            url = reverse(name, kwargs=arguments)
            for method in ("get", "post"):
                answer = getattr(intruder, method)(url)
                # a token signs in to the API and the files, not to the pages: those send it to sign in
                to_sign_in = kind == "token" and answer.status_code == 302 and answer["Location"].startswith(reverse("login"))
                assert answer.status_code in (404, 405) or to_sign_in, f"{method.upper()} {url} gave {answer.status_code} to another user"
            # The owner reaches it: by GET where it answers GET (a delete answers with its confirmation
            # page, so nothing of the owner's is deleted before the next URLs are walked), else by POST.
            owners = rightful.get(url)
            if owners.status_code == 405:
                owners = rightful.post(url)
            reached = reached or owners.status_code != 404
        assert reached, f"{name}: the owner never reached it, so the 404s prove nothing"


def test_every_url_that_is_not_a_page_answers_the_owners_token_as_their_session(owner, owned_ids):
    """Pictures, exports and the pages' JSON: reachable with an API token, not only with the session
    (the page URLs answer a token 302 to the sign-in page)."""
    session = Client()
    session.force_login(owner)
    _, key = services.token_create(user=owner, name="script")
    token = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    measurement = Measurement.objects.get()
    reached = set()
    for name, pattern in [*object_patterns(), *((n, p) for n, p in url_patterns() if n in OWN_ONLY)]:
        arguments = {"pk": measurement.pk, **({"number": 1} if "number" in pattern.pattern.converters else {})}
        url = reverse(name, kwargs=arguments) if pattern.pattern.converters else reverse(name)
        by_session = session.get(url)
        if by_session["Content-Type"].startswith("text/html") or by_session.status_code in (302, 405):
            continue
        by_token = token.get(url)
        assert (by_token.status_code, by_token["Content-Type"]) == (by_session.status_code, by_session["Content-Type"]), url
        reached.add(name)
    assert {"volumes:measurement-preview", "volumes:slice-picture", "volumes:slice-mask", "volumes:measurement-viewer",
            "volumes:measurement-json", "volumes:measurement-seg", "volumes:measurement-nifti",
            "volumes:measurement-list-csv", "volumes:measurement-live", "volumes:measurement-status"} <= reached


ADMIN_OPEN_TO_STAFF = {"admin:index", "admin:login", "admin:logout", "admin:password_change",
                       "admin:password_change_done", "admin:jsi18n", "admin:view_on_site"}
"""Admin pages any staff account reaches: none shows a model's data (view_on_site redirects to the
object's own URL, which answers staff 404)."""


def test_staff_without_permission_are_refused_on_every_admin_url(owner, owned_ids):
    measurement = Measurement.objects.select_related("series__study", "upload").get()
    series = measurement.series
    objects = {  # the owner's objects, so that change, history and delete pages have something to refuse
        "volumes_measurement": measurement.pk, "volumes_series": series.pk, "volumes_study": series.study.pk,
        "volumes_instance": series.instances.get().pk, "volumes_upload": measurement.upload.pk,
        "volumes_apitoken": ApiToken.objects.get().pk, "auth_user": owner.pk,
    }
    staff = Client()
    staff.force_login(get_user_model().objects.create_user("clerk", password="a-long-secret-4", is_staff=True))
    walked = set()
    for name, pattern in url_patterns():
        if not name.startswith(ADMIN_NAMESPACE) or name in ADMIN_OPEN_TO_STAFF or name.endswith("(unnamed)"):
            continue  # (unnamed): admin's redirects to the change page, walked by its name
        model = next((m for m in objects if name.startswith(f"{ADMIN_NAMESPACE}{m}_")), None)
        object_id = str(objects.get(model, measurement.pk))
        arguments = {"object_id": object_id, "pk": object_id, "id": object_id, "app_label": "volumes"}
        url = reverse(name, kwargs={k: v for k, v in arguments.items() if k in pattern.pattern.regex.groupindex})
        for method in ("get", "post"):
            answer = getattr(staff, method)(url)
            # another model's missing object: admin sends staff back to its index, showing nothing
            to_index = model is None and answer.status_code == 302 and answer["Location"] == reverse("admin:index")
            assert answer.status_code in (403, 404, 405) or to_index, f"{method.upper()} {url} gave {answer.status_code} to staff without permission"
        walked.add(name)
    assert {f"{ADMIN_NAMESPACE}{model}_{view}" for model in objects for view in ("changelist", "change", "delete", "history")} <= walked
    assert {"admin:volumes_measurement_preview", "admin:app_list", "admin:autocomplete"} <= walked
    index = staff.get(reverse("admin:index")).content.decode()
    assert "You don’t have permission" in index and series.series_instance_uid not in index


def test_every_url_refuses_a_session_post_without_the_csrf_token(owner, owned_ids):
    """CSRF: a form posted from another site carries the session cookie but not the token; every URL
    of the URL conf (pages, API, files, admin, sign-in) answers 403 before anything is changed."""
    measurement = Measurement.objects.get()
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)  # the owner's own objects: a forged delete or remeasure would succeed
    arguments = {"pk": measurement.pk, "number": 1, "object_id": str(measurement.pk), "id": str(owner.pk),
                 "app_label": "volumes", "content_type_id": "1", "uidb64": "MQ", "token": "set-password", "url": "x"}
    walked = 0
    for name, pattern in url_patterns():
        if name.endswith("(unnamed)") or name == "static":
            continue
        groups = set(pattern.pattern.regex.groupindex) | set(pattern.pattern.converters)
        answer = client.post(reverse(name, kwargs={k: v for k, v in arguments.items() if k in groups}), {"name": "x"})
        assert answer.status_code == 403, f"POST {name} without the CSRF token gave {answer.status_code}"
        walked += 1
    assert walked > 80 and Measurement.objects.filter(pk=measurement.pk).exists()


def test_object_lists_show_another_user_nothing(owner, owned_ids):
    intruder = Client()
    intruder.force_login(get_user_model().objects.create_user("bob", password="a-long-secret-3"))
    measurement = Measurement.objects.get()
    assert intruder.get(reverse("volumes:api-measurement-list")).json()["count"] == 0
    assert measurement.get_absolute_url() not in intruder.get(reverse("volumes:measurement-list")).content.decode()
    assert "ada-laptop-token" not in intruder.get(reverse("volumes:account")).content.decode()


def test_staff_without_permission_see_no_picture(owner, owned_ids):
    measurement = Measurement.objects.get()
    staff = get_user_model().objects.create_user("clerk", password="a-long-secret-4", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(reverse("volumes:measurement-preview", args=[measurement.pk])).status_code == 404
    assert client.get(reverse("admin:volumes_measurement_preview", args=[measurement.pk])).status_code == 403
    assert client.get(reverse("admin:volumes_measurement_change", args=[measurement.pk])).status_code == 403


def test_staff_with_the_view_permission_see_the_picture_through_admin_only(owner, owned_ids):
    measurement = Measurement.objects.get()
    staff = get_user_model().objects.create_user("reviewer", password="a-long-secret-5", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_measurement"))
    client = Client()
    client.force_login(staff)
    picture = client.get(reverse("admin:volumes_measurement_preview", args=[measurement.pk]))
    assert picture.status_code == 200 and picture["Content-Type"] == "image/png"
    assert b"".join(picture.streaming_content).startswith(b"\x89PNG")
    assert client.get(reverse("admin:volumes_measurement_change", args=[measurement.pk])).status_code == 200
    assert client.get(reverse("volumes:measurement-preview", args=[measurement.pk])).status_code == 404


def test_a_signed_in_user_who_is_not_staff_is_sent_to_the_admin_sign_in(owner, owned_ids):
    measurement = Measurement.objects.get()
    client = Client()
    client.force_login(owner)
    answer = client.get(reverse("admin:volumes_measurement_preview", args=[measurement.pk]))
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("admin:login"))
