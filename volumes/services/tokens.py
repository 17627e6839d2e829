"""Personal API tokens: create (the key is returned once), revoke, and find the token a key belongs to."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from ..models import ApiToken

KEY_BYTES = 32
"""Random bytes in a key (43 URL-safe characters): guessing one is hopeless, so a fast hash suffices."""
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""`last_used_at` is written at most this often per token, not on every request."""


def key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`; returns it with its key, which is stored only as a hash."""
    key = secrets.token_urlsafe(KEY_BYTES)
    token = ApiToken(user=user, name=name.strip(), prefix=key[: ApiToken.PREFIX_LENGTH], key_sha256=key_sha256(key))
    token.full_clean()
    token.save()
    return token, key


def token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def token_authenticate(*, key: str) -> ApiToken | None:
    """The active token whose key this is (its user active too), noting when it was used; else None."""
    token = (
        ApiToken.objects.active()
        .select_related("user")
        .filter(key_sha256=key_sha256(key), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
