"""The service catalogue: base items, their implementations, guides, themes and zones.

A base item (事项, 12-character code) is the standard "same item, same name, same standard";
an implementation (事项实施, 31-character code) is that item as one department in one division
carries it out, with its local limits, fees, place and hours. The guide a citizen reads is the
base item's standard elements plus the implementation's local ones.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from tongban.catalog import codes
from tongban.org.models import Department, Division


class Status(models.TextChoices):
    DRAFT = "draft", "草稿"
    PUBLISHED = "published", "已发布"
    WITHDRAWN = "withdrawn", "已撤回"


class Theme(models.Model):
    """A life event (for persons) or a stage of an enterprise's life cycle."""

    code = models.CharField("编码", max_length=32, unique=True)
    name = models.CharField("名称", max_length=40)
    audience = models.CharField("对象", max_length=16, choices=list(codes.THEME_AUDIENCES.items()))
    description = models.CharField("说明", max_length=200, blank=True)
    icon = models.CharField("图标", max_length=32, blank=True)
    sort = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["audience", "sort", "code"]
        verbose_name = "主题"
        verbose_name_plural = "主题"

    def __str__(self) -> str:
        return self.name


class BaseItem(models.Model):
    code = models.CharField("事项基本编码", max_length=12, unique=True)
    name = models.CharField("事项名称", max_length=120, db_index=True)
    item_type = models.CharField("事项类型", max_length=2, choices=list(codes.ITEM_TYPES.items()))
    summary = models.TextField("事项简介", blank=True)
    legal_basis = models.TextField("设定依据")
    conditions = models.TextField("受理条件")
    service_objects = models.JSONField("服务对象", default=list)
    # Exercise levels where the item is carried out (行使层级).
    levels = models.JSONField("行使层级", default=list)
    aliases = models.JSONField("俗称", default=list, blank=True)
    keywords = models.JSONField("关键词", default=list, blank=True)
    themes = models.ManyToManyField(Theme, blank=True, related_name="items")
    result_name = models.CharField("审批结果名称", max_length=120, blank=True)
    result_type = models.CharField("审批结果类型", max_length=40, blank=True)
    # e-licence type whose issuance follows this item (licences issue wires it up).
    result_license_type = models.CharField("结果电子证照类型", max_length=120, blank=True)
    # Relative demand (annual cases) used for ranking and for "高频事项".
    popularity = models.PositiveIntegerField("办件热度", default=0, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "基本事项"
        verbose_name_plural = "基本事项"

    def __str__(self) -> str:
        return self.name

    @property
    def item_type_label(self) -> str:
        return codes.ITEM_TYPES.get(self.item_type, self.item_type)

    @property
    def service_object_labels(self) -> list[str]:
        return [codes.SERVICE_OBJECTS.get(int(o), str(o)) for o in self.service_objects]


class Material(models.Model):
    item = models.ForeignKey(BaseItem, on_delete=models.CASCADE, related_name="materials")
    sort = models.PositiveSmallIntegerField(default=0)
    name = models.CharField("材料名称", max_length=200)
    kind = models.CharField("材料类型", max_length=20, choices=list(codes.MATERIAL_KINDS.items()), default="original")
    form = models.CharField("材料形式", max_length=12, choices=list(codes.MATERIAL_FORMS.items()), default="both")
    need = models.CharField("是否必要", max_length=12, choices=list(codes.MATERIAL_NEED.items()), default="required")
    condition = models.CharField("适用情形", max_length=200, blank=True)
    paper_copies = models.PositiveSmallIntegerField("纸质份数", default=1)
    paper_format = models.CharField("纸质规格", max_length=40, blank=True, default="A4")
    source = models.CharField("来源渠道", max_length=12, choices=list(codes.MATERIAL_SOURCES.items()), default="applicant")
    source_body = models.CharField("出具单位", max_length=120, blank=True)
    has_blank_form = models.BooleanField("有空白表格", default=False)
    has_sample = models.BooleanField("有示例样表", default=False)
    notes = models.CharField("填报须知", max_length=500, blank=True)
    acceptance_standard = models.CharField("受理标准", max_length=500, blank=True)
    legal_basis = models.CharField("依据", max_length=300, blank=True)
    # An electronic licence of this type can stand in for the paper material (免提交).
    license_type = models.CharField("可替代电子证照", max_length=120, blank=True)

    class Meta:
        ordering = ["item", "sort", "id"]
        verbose_name = "申请材料"
        verbose_name_plural = "申请材料"

    def __str__(self) -> str:
        return self.name


class ProcessStep(models.Model):
    item = models.ForeignKey(BaseItem, on_delete=models.CASCADE, related_name="steps")
    sort = models.PositiveSmallIntegerField(default=0)
    name = models.CharField("环节", max_length=40)
    actor = models.CharField("办理人", max_length=60, blank=True)
    description = models.CharField("办理内容", max_length=500)
    time_limit = models.CharField("时限", max_length=40, blank=True)

    class Meta:
        ordering = ["item", "sort", "id"]
        verbose_name = "办理流程"
        verbose_name_plural = "办理流程"


class Fee(models.Model):
    item = models.ForeignKey(BaseItem, on_delete=models.CASCADE, related_name="fees")
    sort = models.PositiveSmallIntegerField(default=0)
    name = models.CharField("收费项目", max_length=120)
    standard = models.CharField("收费标准", max_length=200)
    amount_fen = models.PositiveIntegerField("金额（分）", null=True, blank=True)
    basis = models.CharField("收费依据", max_length=300)
    reducible = models.BooleanField("可减免", default=False)
    reduction_basis = models.CharField("减免依据", max_length=300, blank=True)

    class Meta:
        ordering = ["item", "sort", "id"]
        verbose_name = "收费"
        verbose_name_plural = "收费"


class Faq(models.Model):
    item = models.ForeignKey(BaseItem, on_delete=models.CASCADE, related_name="faqs")
    sort = models.PositiveSmallIntegerField(default=0)
    question = models.CharField("问题", max_length=200)
    answer = models.TextField("解答")

    class Meta:
        ordering = ["item", "sort", "id"]
        verbose_name = "常见问题"
        verbose_name_plural = "常见问题"


class Implementation(models.Model):
    """事项实施清单: one base item as carried out by one department of one division."""

    code = models.CharField("事项实施编码", max_length=31, unique=True)
    base = models.ForeignKey(BaseItem, on_delete=models.PROTECT, related_name="implementations")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="implementations")
    division = models.ForeignKey(Division, on_delete=models.PROTECT, related_name="implementations")
    level = models.PositiveSmallIntegerField("行使层级", choices=list(codes.LEVELS.items()))
    power_source = models.PositiveSmallIntegerField("权力来源", choices=list(codes.POWER_SOURCES.items()), default=1)
    body_nature = models.PositiveSmallIntegerField("实施主体性质", choices=list(codes.BODY_NATURES.items()), default=1)
    entrusting_body = models.CharField("委托部门", max_length=100, blank=True)
    case_type = models.PositiveSmallIntegerField("办件类型", choices=list(codes.CASE_TYPES.items()), default=2)
    legal_limit = models.PositiveSmallIntegerField("法定办结时限", default=20)
    legal_limit_unit = models.PositiveSmallIntegerField("法定时限单位", choices=list(codes.LIMIT_UNITS.items()), default=1)
    legal_limit_note = models.CharField("法定时限说明", max_length=300, blank=True)
    promised_limit = models.PositiveSmallIntegerField("承诺办结时限", default=0)
    promised_limit_unit = models.PositiveSmallIntegerField("承诺时限单位", choices=list(codes.LIMIT_UNITS.items()), default=1)
    promised_limit_note = models.CharField("承诺时限说明", max_length=300, blank=True)
    handling_forms = models.JSONField("办理形式", default=list)
    online_depth = models.JSONField("网上办理深度", default=list)
    visits = models.PositiveSmallIntegerField("到办事现场次数", default=1)
    fee_required = models.BooleanField("是否收费", default=False)
    place = models.CharField("办理地点", max_length=300)
    hours = models.CharField("办理时间", max_length=300)
    consult_channel = models.CharField("咨询方式", max_length=300)
    complaint_channel = models.CharField("监督投诉方式", max_length=300)
    special_procedures = models.CharField("特别程序", max_length=300, blank=True)
    # Per-step limits in working days where the implementation sets them:
    # {"pre_review": n, "review": n, "certificate": n}; the statutory ones (§32 five days,
    # §44 ten days) apply where a step has none.
    step_limits = models.JSONField("环节时限", default=dict, blank=True)
    handling_area = models.CharField("通办范围", max_length=40, blank=True)
    appointment = models.BooleanField("支持预约办理", default=False)
    courier = models.BooleanField("支持物流快递", default=False)
    online_payment = models.BooleanField("支持网上支付", default=False)
    kiosk = models.BooleanField("支持自助终端办理", default=False)
    intermediary = models.CharField("中介服务", max_length=200, blank=True)
    # Address of the online application when it exists; empty means "not online here yet" and
    # the guide says so instead of showing a button that leads nowhere.
    apply_url = models.CharField("在线办理地址", max_length=300, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    version = models.PositiveIntegerField(default=1)
    published_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "实施事项"
        verbose_name_plural = "实施事项"
        indexes = [
            models.Index(fields=["division", "status", "base"]),
            models.Index(fields=["department", "status"]),
            models.Index(fields=["base", "status", "division"]),
        ]

    def __str__(self) -> str:
        return f"{self.base.name}（{self.department.name}）"

    @property
    def is_online(self) -> bool:
        return bool(self.apply_url)

    @property
    def zero_visit(self) -> bool:
        return self.visits == 0


class Zone(models.Model):
    """A curated, ordered list of items: theme, department, enterprise, certificate-free or no-visit zone."""

    code = models.CharField("编码", max_length=40, unique=True)
    name = models.CharField("名称", max_length=60)
    kind = models.CharField("类型", max_length=20, choices=list(codes.ZONE_KINDS.items()))
    description = models.CharField("说明", max_length=300, blank=True)
    sort = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    items = models.ManyToManyField(BaseItem, through="ZoneEntry", related_name="zones")

    class Meta:
        ordering = ["sort", "code"]
        verbose_name = "专区"
        verbose_name_plural = "专区"

    def __str__(self) -> str:
        return self.name


class ZoneEntry(models.Model):
    zone = models.ForeignKey(Zone, on_delete=models.CASCADE, related_name="entries")
    item = models.ForeignKey(BaseItem, on_delete=models.CASCADE, related_name="+")
    sort = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["zone", "sort", "id"]
        constraints = [models.UniqueConstraint(fields=["zone", "item"], name="zone_item_once")]


class Synonym(models.Model):
    """Colloquial term → standard terms, for search ("社保" → "社会保障"). Operators extend it."""

    term = models.CharField("口语词", max_length=40, unique=True)
    expansions = models.JSONField("标准词", default=list)

    class Meta:
        ordering = ["term"]
        verbose_name = "同义词"
        verbose_name_plural = "同义词"


class ChangeFeed(models.Model):
    """Monotonic feed of catalogue changes, written in the same transaction as the change.

    Readers that keep derived data (the search index) follow it by id, so they see every
    committed change exactly once and nothing that rolled back.
    """

    base_code = models.CharField(max_length=12, db_index=True)
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["id"]


class Bundle(models.Model):
    """A "one thing done once" bundle (一件事): several base items applied for together, some of them
    depending on others (the household registration needs the birth certificate first)."""

    code = models.SlugField("一件事代码", max_length=40, unique=True)
    name = models.CharField("名称", max_length=100)
    description = models.TextField("说明", blank=True)
    audience = models.CharField("服务对象", max_length=16, default="person")  # person | enterprise

    class OnPartFailed(models.TextChoices):
        # The parts that need the failed one are withdrawn; the rest carry on.
        WITHDRAW_DEPENDENTS = "withdraw", "依赖事项终止，其余继续"
        # The parts that need it wait while the applicant applies for the failed part again.
        WAIT = "wait", "依赖事项等待重新申请"

    on_part_failed = models.CharField(
        "部分事项未通过时", max_length=8, choices=OnPartFailed.choices, default=OnPartFailed.WITHDRAW_DEPENDENTS
    )
    status = models.CharField(max_length=16, default="published")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "一件事"
        verbose_name_plural = "一件事"

    def __str__(self) -> str:
        return self.name


class BundleItem(models.Model):
    bundle = models.ForeignKey(Bundle, on_delete=models.CASCADE, related_name="items")
    item = models.ForeignKey(BaseItem, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    optional = models.BooleanField("按需办理", default=False)  # e.g. the mortgage in a second-hand home transfer
    depends_on = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="dependents")

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["bundle", "item"], name="bundle_item_unique")]
