from django.contrib import admin
from django.urls import include, path

from tongban.api.urls import api
from tongban.web import health

admin.site.site_header = "通办 · 运营管理"
admin.site.site_title = "通办"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("api/v1/", api.urls),
    path("console/admin/", admin.site.urls),
    path("console/", include("tongban.web.console.urls")),
    path("", include("tongban.web.portal.urls")),
]

handler404 = "tongban.web.errors.not_found"
handler500 = "tongban.web.errors.server_error"
