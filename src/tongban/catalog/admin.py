from django.contrib import admin

from tongban.catalog.models import BaseItem, Implementation, Synonym, Theme, Zone
from tongban.common.admin import ReadOnlyAdmin


@admin.register(BaseItem)
class BaseItemAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "item_type", "status", "version", "popularity")
    list_filter = ("status", "item_type")
    search_fields = ("code", "name")


@admin.register(Implementation)
class ImplementationAdmin(ReadOnlyAdmin):
    list_display = ("code", "base", "department", "level", "status", "version")
    list_filter = ("status", "level")
    search_fields = ("code", "base__name", "department__name")
    list_select_related = ("base", "department")
    show_full_result_count = False  # no COUNT over the whole table on every page


admin.site.register(Theme, ReadOnlyAdmin)
admin.site.register(Zone, ReadOnlyAdmin)
admin.site.register(Synonym, ReadOnlyAdmin)
