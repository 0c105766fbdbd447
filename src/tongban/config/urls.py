from django.contrib import admin
from django.urls import include, path

from tongban.api.urls import api
from tongban.common.admin import is_operator
from tongban.web import health
from tongban.web.console.identity_views import admin_login, admin_logout

admin.site.site_header = "通办 · 高级数据维护（只读）"
admin.site.site_title = "通办"
# Only operators reach the admin, and it is read-only (tongban.common.admin).
admin.site.has_permission = is_operator  # type: ignore[method-assign]
# Staff sign in once, on the console's page with the second factor; never with a password alone.
admin.site.login = admin_login  # type: ignore[method-assign,assignment]
admin.site.logout = admin_logout  # type: ignore[method-assign,assignment]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("api/v1/", api.urls),
    path("console/admin/", admin.site.urls),
    path("console/", include("tongban.web.console.urls")),
    path("workbench/", include("tongban.web.workbench.urls")),
    path("o/", include(("tongban.web.oidc", "oauth2_provider"))),
    path("", include("tongban.web.portal.urls")),
]

handler404 = "tongban.web.errors.not_found"
handler500 = "tongban.web.errors.server_error"
