from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from tongban.identity.models import Account


@admin.register(Account)
class AccountAdmin(UserAdmin):
    list_display = ("username", "display_name", "kind", "department", "is_active")
    list_filter = ("kind", "is_active")
    fieldsets = (*UserAdmin.fieldsets, ("通办", {"fields": ("kind", "display_name", "department")}))  # type: ignore[misc]
    raw_id_fields = ("department",)
