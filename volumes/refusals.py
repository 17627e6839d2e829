"""What to tell the sender of a request body that Django refused before any view could read it:
the page, the API and the 400 handler say the same."""
from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)

from .upload_handlers import UploadCut


def refusal_message(error: Exception) -> str:
    """What to tell the sender of a request body that Django refused before any view could read it."""
    if isinstance(error, TooManyFilesSent):
        return (
            f"An upload may hold at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES:,} files (VOLUMES_MAX_UPLOAD_FILES) "
            "and this one held more: send them as a .zip archive, or in several uploads. Nothing was stored."
        )
    if isinstance(error, TooManyFieldsSent):
        return f"The form held more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} fields. Nothing was stored."
    if isinstance(error, RequestDataTooBig):
        return "The form's fields (besides its files) were too large. Nothing was stored."
    if isinstance(error, UploadCut):
        return f"Nothing was stored: {error}."
    return f"The upload was refused: {error}"
