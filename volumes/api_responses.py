"""How the API and the private file views answer: one JSON shape for every refusal, `{"error": "…"}`
(with "fields" per field and "skipped" per file where there is such detail), and 429 with Retry-After
for throttling and lock-out.

`private_file_view` is the one way to serve a picture or an export to its owner, by session or token.
"""
from __future__ import annotations

import logging
import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from .api_auth import FileAddressRateThrottle, FileUserRateThrottle, LockedOut, cool_off_seconds, locked_out_message
from .refusals import refusal_message
from .serializers import ErrorSerializer

logger = logging.getLogger(__name__)

SIGN_IN_FIRST = "Sign in first: a session cookie, or an API token (Authorization: Bearer …)."
INTERNAL_ERROR = "Internal error; it has been logged for the administrators."
ERRORS = {
    code: OpenApiResponse(ErrorSerializer, description=text)
    for code, text in [
        (400, "The request is invalid: `error` says why, `fields` per field, `skipped` per file."),
        (401, "Not signed in: send a session cookie or an API token."),
        (403, "Refused (e.g. the CSRF check of a session)."),
        (404, "No such object (or page) among yours."),
        (409, "Not possible in the object's present state (e.g. not measured yet): `error` says why."),
        (429, "Too many requests or failed sign-ins: retry after Retry-After seconds."),
    ]
}


def errors(*codes: int) -> dict:
    """The schema's error answers for these status codes."""
    return {code: ERRORS[code] for code in sorted(codes)}


class ApiError(exceptions.APIException):
    """A refusal with more than a message: `extra` keys go beside "error" (e.g. "skipped")."""

    status_code = 400

    def __init__(self, message: str, status: int = 400, **extra):
        super().__init__(message)
        self.status_code = status
        self.extra = extra


def error_response(exc, context) -> Response:
    """DRF's exception handler, every answer reshaped to `{"error": "…"}` (+ "fields", "skipped")."""
    if isinstance(exc, (SuspiciousOperation, MultiPartParserError)):  # too many files, a cut body...
        exc = exceptions.ValidationError(refusal_message(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("API request failed", exc_info=exc)
        return Response({"error": INTERNAL_ERROR}, status=500)
    body = {"error": error_message(exc, context)}
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        body["fields"] = {field: [str(e) for e in errors] for field, errors in exc.detail.items()}
    if isinstance(exc, ApiError):
        body.update(exc.extra)
    response.data = body
    return response


def error_message(exc, context) -> str:
    if isinstance(exc, exceptions.MethodNotAllowed):
        allowed = [m for m in context["view"].allowed_methods if m not in ("HEAD", "OPTIONS")]
        return f"Use {' or '.join(allowed)} here."
    if isinstance(exc, exceptions.NotAuthenticated):
        return SIGN_IN_FIRST
    if isinstance(exc, LockedOut):
        return locked_out_message()
    if isinstance(exc, exceptions.Throttled) and not isinstance(exc, LockedOut) and exc.wait is not None:
        return f"Too many requests; try again in {math.ceil(exc.wait)} s."
    return first_message(exc.detail)


def first_message(detail) -> str:
    if isinstance(detail, dict):
        return first_message(next(iter(detail.values())))
    if isinstance(detail, list):
        return first_message(detail[0])
    return str(detail)


def locked_out_response(request, original_response=None, credentials=None):
    """django-axes' answer when it locks out: JSON on the API, the page elsewhere; 429 with Retry-After."""
    wait = cool_off_seconds(request)
    if request.path.startswith("/api/"):
        response = JsonResponse({"error": locked_out_message()}, status=429)
    else:
        response = render(request, "registration/locked_out.html", {"cool_off_minutes": math.ceil(wait / 60)}, status=429)
    if wait:
        response["Retry-After"] = str(wait)
    return response


class ThrottleBeforeSignIn:
    """An API view whose throttles count every request, signed in or not (DRF checks the permissions
    first, so that a flood of unauthenticated requests would never be throttled)."""

    def initial(self, request, *args, **kwargs):
        self.format_kwarg = self.get_format_suffix(**kwargs)
        request.accepted_renderer, request.accepted_media_type = self.perform_content_negotiation(request)
        request.version, request.versioning_scheme = self.determine_version(request, *args, **kwargs)
        self.perform_authentication(request)
        self.check_throttles(request)
        self.check_permissions(request)


class ApiView(ThrottleBeforeSignIn, APIView):
    """The base of our API views."""


def private_file_view(content_type: str, *, parameters: list | None = None, refusals: tuple[int, ...] = ()):
    """Serve a file (a picture, an export) to its owner, signed in by session or by API token.

    Decorates `view(request, **kwargs)`, which looks the object up among `request.user`'s own (404
    otherwise) and returns a FileResponse or HttpResponse of `content_type`. The decorator brings
    authentication, throttling, JSON errors (401, 404, 429, and the view's own `refusals`, e.g. 400)
    and the view's entry in the schema, with its query `parameters` (a serializer or OpenApiParameters):

        @private_file_view("image/png", parameters=[WindowSerializer], refusals=(400, 409))
        def slice_picture(request, pk: int, number: int): ...
    """

    body_type = OpenApiTypes.OBJECT if content_type == "application/json" else OpenApiTypes.BINARY

    def decorate(view):
        schema = extend_schema(
            parameters=parameters,
            responses={(200, content_type): body_type, **errors(401, 404, 429, *refusals)},
            description=view.__doc__,
        )
        def get(self, request, **kwargs):
            return view(request, **kwargs)

        file_view = type(view.__name__, (ApiView,), {
            "get": schema(get), "__doc__": view.__doc__,
            "throttle_classes": [FileUserRateThrottle, FileAddressRateThrottle],
        })
        return file_view.as_view()

    return decorate
