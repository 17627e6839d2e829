from django.urls import path

from . import views

app_name = "volumes"

urlpatterns = [
    path("", views.upload_create, name="upload"),
    path("uploads/<int:pk>/", views.upload_detail, name="upload-detail"),
    path("measurements/", views.measurement_list, name="measurement-list"),
    path("measurements/<int:pk>/", views.measurement_detail, name="measurement-detail"),
    path("measurements/<int:pk>/remeasure/", views.measurement_remeasure, name="measurement-remeasure"),
    path("measurements/<int:pk>/status.json", views.measurement_status, name="measurement-status"),
    path("measurements/<int:pk>/viewer.json", views.measurement_viewer, name="measurement-viewer"),
    path("measurements/<int:pk>/live.json", views.measurement_live, name="measurement-live"),
    path("measurements/<int:pk>/slices/<int:number>.png", views.slice_picture, name="slice-picture"),
    path("measurements/<int:pk>/slices/<int:number>/mask.png", views.slice_mask, name="slice-mask"),
    path("measurements/<int:pk>/preview.png", views.measurement_preview, name="measurement-preview"),
    path("accounts/signup/", views.signup, name="signup"),
    path("api/measurements/", views.api_measurements, name="api-measurement-list"),
    path("api/measurements/<int:pk>/", views.api_measurement_detail, name="api-measurement-detail"),
    path("api/measurements/<int:pk>/remeasure/", views.api_measurement_remeasure, name="api-measurement-remeasure"),
]
