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
from django.shortcuts import render
from rest_framework import exceptions
from rest_framework.decorators import api_view
from rest_framework.response import Response
from rest_framework.views import exception_handler

from .api_auth import LockedOut, cool_off_seconds, locked_out_message

logger = logging.getLogger(__name__)

SIGN_IN_FIRST = "Sign in first: a session cookie, or an API token (Authorization: Bearer …)."
INTERNAL_ERROR = "Internal error; it has been logged for the administrators."


class ApiError(exceptions.APIException):
    """A refusal with more than a message: `extra` keys go beside "error" (e.g. "skipped")."""

    status_code = 400

    def __init__(self, message: str, status: int = 400, **extra):
        super().__init__(message)
        self.status_code = status
        self.extra = extra


def error_response(exc, context) -> Response:
    """DRF's exception handler, every answer reshaped to `{"error": "…"}` (+ "fields", "skipped")."""
    if isinstance(exc, SuspiciousOperation):  # too many files or fields for the configured limits
        exc = exceptions.ValidationError(f"The request was refused: {exc}")
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


def private_file_view(view):
    """Serve a file (a picture, an export) to its owner signed in by session or by API token.

    `view(request, **kwargs)` looks the object up among the signed-in user's own (404 otherwise) and
    returns a FileResponse or HttpResponse; throttling and JSON errors (401, 404, 429) come with it.
    """
    return api_view(["GET"])(view)
