"""How the API reads request bodies."""
from django.http.multipartparser import MultiPartParserError
from rest_framework import exceptions, parsers

from .refusals import refusal_message


class UploadParser(parsers.MultiPartParser):
    """DRF's multipart parser, saying why Django refused the body (a cut upload, too many files) in
    the words the page uses, instead of DRF's "Multipart form parse error - …"."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except exceptions.ParseError as error:
            if isinstance(error.__context__, MultiPartParserError):
                raise exceptions.ParseError(refusal_message(error.__context__)) from None
            raise
