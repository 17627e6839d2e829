"""Who may call the API, and how often.

- `ApiTokenAuthentication`: `Authorization: Bearer <key>` (or `Token <key>`); the browser signs in with
  its session and CSRF token (DRF's SessionAuthentication, configured beside this in settings).
- Failed tokens count as failed sign-ins of the address (django-axes, the same lock-out as the
  sign-in page): past the limit that address is answered 429 until the cool-off ends.
- `UserRateThrottle`, `AddressRateThrottle`: requests per signed-in user and per address
  (`VOLUMES_API_RATES`), answered 429 with Retry-After.

Nothing here may import rest_framework.views: DRF's settings import this module while loading it.
"""
from __future__ import annotations

import math

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.cache import caches
from django.utils.connection import ConnectionProxy
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.throttling import SimpleRateThrottle

from . import services

TOKEN_KEYWORDS = (b"bearer", b"token")
THROTTLE_CACHE = "throttle"
TOKEN_CREDENTIALS = {"username": "(API token)"}
"""What axes records for a failed token: one pseudo-user, so that failures add up per address."""


class LockedOut(exceptions.Throttled):
    """Too many failed sign-ins (here: API tokens) from one address."""


class ApiTokenAuthentication(BaseAuthentication):
    """A personal API token in the Authorization header, as `Bearer <key>` or `Token <key>`."""

    def authenticate(self, request):
        words = get_authorization_header(request).split()
        if not words or words[0].lower() not in TOKEN_KEYWORDS:
            return None
        django_request = request._request
        if AxesProxyHandler.is_locked(django_request, credentials=TOKEN_CREDENTIALS):
            raise LockedOut(wait=cool_off_seconds(django_request), detail=locked_out_message())
        key = words[1].decode("latin-1") if len(words) == 2 else ""
        token = services.token_authenticate(key=key) if key else None
        if token is None:
            user_login_failed.send(sender=__name__, credentials=TOKEN_CREDENTIALS, request=django_request)
            raise exceptions.AuthenticationFailed("This API token is unknown or revoked.")
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class RateFromSettings(SimpleRateThrottle):
    """DRF's rate throttle with its rate read from `settings.VOLUMES_API_RATES` at each request, counting
    in the `throttle` cache (the database: one count for all the web processes, not one each)."""

    cache = ConnectionProxy(caches, THROTTLE_CACHE)

    def get_rate(self) -> str:
        return settings.VOLUMES_API_RATES[self.scope]


class UserRateThrottle(RateFromSettings):
    scope = "user"

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class AddressRateThrottle(RateFromSettings):
    scope = "address"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


class FileUserRateThrottle(UserRateThrottle):
    """The user's limit on pictures, viewer and live figures, and exports: a viewer scrolling a 600-slice
    series asks for a slice and its mask at each step, many times the API's rate for a person."""

    scope = "file_user"


class FileAddressRateThrottle(AddressRateThrottle):
    scope = "file_address"


def client_address(request) -> str:
    """The client's address, for the limits and the lock-out (AXES_CLIENT_IP_CALLABLE) alike.

    REMOTE_ADDR, unless `settings.VOLUMES_PROXY_COUNT` reverse proxies of our own stand in front: then the
    address the outermost of them saw, which the nearest one's X-Forwarded-For names N entries from its
    end (entries before it are what the client wrote itself, and count for nothing)."""
    request = getattr(request, "_request", request)
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    proxies = settings.VOLUMES_PROXY_COUNT
    if proxies and forwarded:
        return forwarded[-min(proxies, len(forwarded))]
    return request.META.get("REMOTE_ADDR", "")


def cool_off_seconds(request) -> int:
    cool_off = get_cool_off(request)
    return math.ceil(cool_off.total_seconds()) if cool_off else 0


def locked_out_message() -> str:
    return "Too many failed sign-ins from here; try again later."


