from django.conf import settings


def site(request) -> dict:
    """What every page may need to know about the site's configuration."""
    return {"allow_signup": settings.VOLUMES_ALLOW_SIGNUP, "password_reset_offered": settings.VOLUMES_MAIL_CONFIGURED}
