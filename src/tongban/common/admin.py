"""Django admin as a read-only window for operators ("高级数据维护"): every change to platform data
goes through the services, which audit it and feed the search index; the admin must not bypass them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


def is_operator(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and (user.is_superuser or getattr(user, "kind", None) == "operator"))


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_operator(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_operator(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _register_audit() -> None:
    from tongban.common.models import AuditEvent

    @admin.register(AuditEvent)
    class AuditEventAdmin(ReadOnlyAdmin):
        list_display = ("at", "actor_label", "action", "object_type", "object_id", "reason")
        list_filter = ("action", "object_type")
        search_fields = ("object_id", "actor_label")
        show_full_result_count = False


_register_audit()
