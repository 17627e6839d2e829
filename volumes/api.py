"""The JSON API (Django REST framework): thin views that validate with a serializer, call a service, answer.

Authentication, throttling and the error shape are in `api_auth`; the schema at /api/schema/ is
generated from these views and `serializers` by drf-spectacular.
"""
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from . import (
    api_schema,  # noqa: F401  (registers the token scheme with drf-spectacular)
    services,
)
from .api_parsers import UploadParser
from .api_responses import ApiError, ApiView, ThrottleBeforeSignIn, errors
from .models import Measurement
from .serializers import (
    MeasurementSerializer,
    ThresholdRequestSerializer,
    UploadRequestSerializer,
    UploadResultSerializer,
)

NO_SUCH_MEASUREMENT = "No such measurement."


class MeasurementPagination(PageNumberPagination):
    page_size = 50


def owned_measurement(request, pk: int) -> Measurement:
    queryset = Measurement.objects.for_user(request.user).with_series()
    try:
        return queryset.get(pk=pk)
    except Measurement.DoesNotExist:
        raise NotFound(NO_SUCH_MEASUREMENT) from None


class MeasurementListCreate(ThrottleBeforeSignIn, generics.GenericAPIView):
    """GET: the user's measurements, newest first, 50 a page. POST: upload files and measure them."""

    serializer_class = MeasurementSerializer
    pagination_class = MeasurementPagination
    parser_classes = [UploadParser, FormParser]

    def get_queryset(self):
        return Measurement.objects.for_user(self.request.user).with_series()

    def list_context(self) -> dict:
        """Measurements in a list name no skipped files (their upload's detail does): lists stay small."""
        return {**self.get_serializer_context(), "detail": False}

    @extend_schema(responses={200: MeasurementSerializer(many=True), **errors(401, 404, 429)})
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True, context=self.list_context()).data)

    @extend_schema(
        request=UploadRequestSerializer,
        responses={202: UploadResultSerializer, **errors(400, 401, 403, 429)},
        description="Measured by a worker: each measurement's `state` is `queued` until it is done.",
    )
    def post(self, request):
        form = UploadRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            upload = services.upload_ingest(
                owner=request.user, files=form.validated_data["files"], request=form.validated_data["request"]
            )
        except services.UploadRejected as rejected:
            summary = rejected.summary
            raise ApiError(
                rejected.message, status=rejected.status, skipped=summary.files(), skipped_count=summary.count,
                skipped_reasons=summary.reasons,
            ) from None
        measurements = upload.measurements.with_series().order_by("id")
        body = {
            "upload": upload.pk,
            "measurements": self.get_serializer(measurements, many=True, context=self.list_context()).data,
            "skipped": upload.skipped,
            "skipped_count": upload.skipped_count,
            "skipped_reasons": upload.skipped_reasons,
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class MeasurementDetail(ApiView):
    @extend_schema(responses={200: MeasurementSerializer, **errors(401, 404, 429)})
    def get(self, request, pk: int):
        measurement = owned_measurement(request, pk)
        return Response(MeasurementSerializer(measurement, context={"request": request}).data)


class MeasurementRemeasure(ApiView):
    parser_classes = [UploadParser, FormParser]

    @extend_schema(
        request=ThresholdRequestSerializer,
        responses={
            201: OpenApiResponse(MeasurementSerializer, description="Measured at once (the stored histograms exist)."),
            202: OpenApiResponse(MeasurementSerializer, description="Queued: the first measurement is not done yet."),
            **errors(400, 401, 403, 404, 429),
        },
        description="Measure the same volume again at another threshold; the earlier measurement is kept.",
    )
    def post(self, request, pk: int):
        measurement = owned_measurement(request, pk)
        form = ThresholdRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        again = services.measurement_remeasure(measurement=measurement, request=form.validated_data["request"])
        code = status.HTTP_201_CREATED if again.is_finished else status.HTTP_202_ACCEPTED
        return Response(MeasurementSerializer(again, context={"request": request}).data, status=code)


@extend_schema(exclude=True)
class UnknownEndpoint(ApiView):
    """Any other URL under /api/: a JSON 404 like the API's own, rather than the HTML page."""

    permission_classes = [AllowAny]

    def handle_request(self, request, *args, **kwargs):
        raise NotFound("No such API endpoint: see /api/docs/.")

    get = post = put = patch = delete = head = options = handle_request
