"""`GET /healthz`: the service's health as JSON, 200 when everything answers, 503 when a part is down.

Answered by a middleware placed first, before host validation, HTTPS redirects, sessions and sign-in:
a container healthcheck or a load balancer asks by an internal address (localhost, the container's
IP) that ALLOWED_HOSTS rightly does not list, and the answer holds no patient data.
"""
from django.http import HttpResponseNotAllowed, JsonResponse

from . import services

HEALTH_PATH = "/healthz"


def healthz(request) -> JsonResponse | HttpResponseNotAllowed:
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    health = services.health_check()
    response = JsonResponse(health.as_dict(), status=200 if health.ok else 503)
    response["Cache-Control"] = "no-store"
    return response


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == HEALTH_PATH:
            return healthz(request)
        return self.get_response(request)
