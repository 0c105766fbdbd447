from django.contrib import admin

from tongban.org.models import CalendarYear, Department, Division, Hall, WorkdayOverride


@admin.register(Division)
class DivisionAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "level", "parent")
    list_filter = ("level",)
    search_fields = ("code", "name")
    raw_id_fields = ("parent",)
    readonly_fields = ("path",)

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # divisions come from GB/T 2260 loads, not hand edits


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("name", "credit_code", "division", "kind")
    list_filter = ("kind", "division__level")
    search_fields = ("name", "credit_code")
    raw_id_fields = ("division",)


@admin.register(Hall)
class HallAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "division")
    list_filter = ("kind",)


admin.site.register(CalendarYear)
admin.site.register(WorkdayOverride)
