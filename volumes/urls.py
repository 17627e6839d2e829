from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import api, download_views, history_views, views

app_name = "volumes"

urlpatterns = [
    path("", views.upload_create, name="upload"),
    path("uploads/<int:pk>/", views.upload_detail, name="upload-detail"),
    path("measurements/", history_views.measurement_list, name="measurement-list"),
    path("measurements.csv", history_views.measurement_list_csv, name="measurement-list-csv"),
    path("measurements/<int:pk>/delete/", history_views.measurement_delete, name="measurement-delete"),
    path("uploads/<int:pk>/delete/", history_views.upload_delete, name="upload-delete"),
    path("measurements/<int:pk>/measurement.json", download_views.measurement_json, name="measurement-json"),
    path("measurements/<int:pk>/mask-seg.dcm", download_views.measurement_seg, name="measurement-seg"),
    path("measurements/<int:pk>/mask.nii.gz", download_views.measurement_nifti, name="measurement-nifti"),
    path("measurements/<int:pk>/", views.measurement_detail, name="measurement-detail"),
    path("measurements/<int:pk>/remeasure/", views.measurement_remeasure, name="measurement-remeasure"),
    path("measurements/<int:pk>/status.json", views.measurement_status, name="measurement-status"),
    path("measurements/<int:pk>/viewer.json", views.measurement_viewer, name="measurement-viewer"),
    path("measurements/<int:pk>/live.json", views.measurement_live, name="measurement-live"),
    path("measurements/<int:pk>/slices/<int:number>.png", views.slice_picture, name="slice-picture"),
    path("measurements/<int:pk>/slices/<int:number>/mask.png", views.slice_mask, name="slice-mask"),
    path("measurements/<int:pk>/preview.png", views.measurement_preview, name="measurement-preview"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/account/", views.account, name="account"),
    path("accounts/tokens/<int:pk>/revoke/", views.api_token_revoke, name="api-token-revoke"),
    path("api/measurements/", api.MeasurementListCreate.as_view(), name="api-measurement-list"),
    path("api/measurements/<int:pk>/", api.MeasurementDetail.as_view(), name="api-measurement-detail"),
    path("api/measurements/<int:pk>/remeasure/", api.MeasurementRemeasure.as_view(), name="api-measurement-remeasure"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="volumes:api-schema"), name="api-docs"),
    re_path(r"^api/", api.UnknownEndpoint.as_view(), name="api-unknown"),  # last: what no pattern above matched
]
