"""Admin never answers 500: every add and change page, shown and saved."""
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from volumes.models import Instance, Measurement, Series, Study, Upload

from .conftest import SEED_FILE
from .test_views import upload

pytestmark = pytest.mark.django_db

MODELS = [Study, Series, Instance, Upload, Measurement]


@pytest.fixture
def admin_client_with_data(client, django_capture_on_commit_callbacks):
    staff = get_user_model().objects.create_superuser("root", password="a-long-secret-1")
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(client, SEED_FILE).status_code == 302
    return client


def form_data(response) -> dict:
    """What a browser would send back from an admin change page, unchanged."""
    data = {}
    form = response.context["adminform"].form
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is not None:
            data[name] = value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{name}"] = value
        for inline_form in formset.forms:
            for name in inline_form.fields:
                value = inline_form.initial.get(name)
                if name == inline_form._meta.model._meta.pk.name:
                    value = inline_form.instance.pk
                if value is not None:
                    data[inline_form.add_prefix(name)] = getattr(value, "pk", value)
    data["_save"] = "Save"
    return data


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_no_add_page_where_adding_makes_no_sense(admin_client_with_data, model):
    url = reverse(f"admin:volumes_{model._meta.model_name}_add")
    assert admin_client_with_data.get(url).status_code == 403
    assert admin_client_with_data.post(url, {"_save": "Save"}).status_code == 403
    changelist = admin_client_with_data.get(reverse(f"admin:volumes_{model._meta.model_name}_changelist"))
    assert changelist.status_code == 200
    assert url not in changelist.content.decode()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_change_page_shows_and_saves(admin_client_with_data, model):
    obj = model.objects.first()
    url = reverse(f"admin:volumes_{model._meta.model_name}_change", args=[obj.pk])
    page = admin_client_with_data.get(url)
    assert page.status_code == 200
    saved = admin_client_with_data.post(url, form_data(page))
    assert saved.status_code == 302, (saved.context["adminform"].form.errors, [f.formset.errors for f in saved.context["inline_admin_formsets"]])
    assert saved["Location"] == reverse(f"admin:volumes_{model._meta.model_name}_changelist")
