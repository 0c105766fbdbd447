"""Divisions of the province (GB/T 2260), departments, halls and the working-day calendar."""

from __future__ import annotations

from django.db import models


class Division(models.Model):
    """An administrative division. Levels follow the 行使层级 codes of STANDARDS.md (2 province … 6 village)."""

    class Level(models.IntegerChoices):
        PROVINCE = 2, "省级"
        CITY = 3, "市级"
        COUNTY = 4, "县级"
        TOWN = 5, "乡镇（街道）"
        VILLAGE = 6, "村（社区）"

    code = models.CharField("区划代码", max_length=12, unique=True)
    name = models.CharField("名称", max_length=64)
    level = models.PositiveSmallIntegerField("层级", choices=Level.choices, db_index=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    # Codes of every ancestor and itself, province first, e.g. "360000/360100/360102": lets a
    # hall's scope be found with one indexed prefix or IN query.
    path = models.CharField(max_length=80, db_index=True)
    sort = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["code"]
        verbose_name = "行政区划"
        verbose_name_plural = "行政区划"

    def __str__(self) -> str:
        return self.name

    @property
    def ancestor_codes(self) -> list[str]:
        return self.path.split("/")


class Department(models.Model):
    """A government department (or authorised organisation) that implements items."""

    credit_code = models.CharField("统一社会信用代码", max_length=18, unique=True)
    name = models.CharField("名称", max_length=100)
    short_name = models.CharField("简称", max_length=40, blank=True)
    division = models.ForeignKey(Division, on_delete=models.PROTECT, related_name="departments")
    # Kind of department ("公安", "人社", "市场监管" …): lets the demo and operators group the same
    # department across levels and lets search treat "公安局" and "派出所" alike.
    kind = models.CharField("部门类别", max_length=20, db_index=True)
    phone = models.CharField("咨询电话", max_length=40, blank=True)
    address = models.CharField("地址", max_length=200, blank=True)
    sort = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["division__code", "sort", "credit_code"]
        verbose_name = "部门"
        verbose_name_plural = "部门"

    def __str__(self) -> str:
        return self.name


class Hall(models.Model):
    """The province main hall (主厅) or a city/county branch hall (分厅): one per division."""

    class Kind(models.TextChoices):
        MAIN = "main", "主厅"
        BRANCH = "branch", "分厅"

    division = models.OneToOneField(Division, on_delete=models.PROTECT, related_name="hall")
    name = models.CharField("名称", max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    address = models.CharField("政务服务中心地址", max_length=200, blank=True)
    hours = models.CharField("办公时间", max_length=200, blank=True)
    phone = models.CharField("咨询电话", max_length=40, blank=True)

    class Meta:
        ordering = ["division__code"]
        verbose_name = "网上办事大厅"
        verbose_name_plural = "网上办事大厅"

    def __str__(self) -> str:
        return self.name


class CalendarYear(models.Model):
    """A year whose holidays an operator has entered from the State Council notice.

    Dates of a year the `chinesecalendar` package does not cover are known only when the
    operator has marked the year complete here; until then the calendar refuses to guess.
    """

    year = models.PositiveSmallIntegerField(unique=True)
    source = models.CharField("依据", max_length=200)
    complete = models.BooleanField("已完整录入", default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["year"]
        verbose_name = "工作日历年度"
        verbose_name_plural = "工作日历年度"


class WorkdayOverride(models.Model):
    """An operator's correction: this date is (or is not) a working day, whatever the library says."""

    date = models.DateField(unique=True)
    is_workday = models.BooleanField("是否工作日")
    note = models.CharField("说明", max_length=100)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["date"]
        verbose_name = "工作日调整"
        verbose_name_plural = "工作日调整"
