from django.contrib import admin

from tongban.common.admin import ReadOnlyAdmin
from tongban.org.models import CalendarYear, Department, Division, Hall, WorkdayOverride


@admin.register(Division)
class DivisionAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "level", "parent")
    list_filter = ("level",)
    search_fields = ("code", "name")


@admin.register(Department)
class DepartmentAdmin(ReadOnlyAdmin):
    list_display = ("name", "credit_code", "division", "kind")
    list_filter = ("kind", "division__level")
    search_fields = ("name", "credit_code")
    list_select_related = ("division",)


@admin.register(Hall)
class HallAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "division")
    list_filter = ("kind",)


@admin.register(CalendarYear)
class CalendarYearAdmin(ReadOnlyAdmin):
    list_display = ("year", "complete", "source")


@admin.register(WorkdayOverride)
class WorkdayOverrideAdmin(ReadOnlyAdmin):
    list_display = ("date", "is_workday", "note")
