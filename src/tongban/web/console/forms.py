"""Forms of the operator console. They check the shape of what was typed; the rules live in the services.

The catalogue forms are built from the field table of `catalog.schema`, the same table that validates
imports, so a field added there appears here with its label, length and code list.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.forms import formset_factory

from tongban.catalog import codes, schema
from tongban.catalog.models import Status

# Code lists of the fields whose values come from one (labels as operators know them).
CHOICE_LABELS: dict[str, dict[Any, str]] = {
    "item_type": codes.ITEM_TYPES,
    "service_objects": codes.SERVICE_OBJECTS,
    "levels": codes.LEVELS,
    "kind": codes.MATERIAL_KINDS,
    "form": codes.MATERIAL_FORMS,
    "need": codes.MATERIAL_NEED,
    "source": codes.MATERIAL_SOURCES,
    "level": codes.LEVELS,
    "power_source": codes.POWER_SOURCES,
    "body_nature": codes.BODY_NATURES,
    "case_type": codes.CASE_TYPES,
    "legal_limit_unit": codes.LIMIT_UNITS,
    "promised_limit_unit": codes.LIMIT_UNITS,
    "handling_forms": codes.HANDLING_FORMS,
    "online_depth": codes.ONLINE_DEPTHS,
    "status": dict(Status.choices),
}
# Free-text fields long enough to deserve a text area.
TEXTAREA_MIN_CHARS = 300


def _normalise_newlines(value: Any) -> Any:
    # Browsers send CRLF from text areas; the catalogue refuses control characters other than \n and \t.
    if isinstance(value, str):
        return value.replace("\r\n", "\n").replace("\r", "\n")
    return value


class TextField(forms.CharField):
    def to_python(self, value: Any) -> Any:
        return super().to_python(_normalise_newlines(value))


class LinesField(forms.CharField):
    """A list typed one entry per line."""

    widget = forms.Textarea(attrs={"rows": 3})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "每行一项。")
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return "\n".join(str(v) for v in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = _normalise_newlines(super().to_python(value)) or ""
        return [line.strip() for line in text.split("\n") if line.strip()]

    def validate(self, value: Any) -> None:
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")


def _choices(key: str, allowed: frozenset[Any]) -> list[tuple[Any, str]]:
    labels = CHOICE_LABELS.get(key, {})
    ordered = [value for value in labels if value in allowed] + sorted((v for v in allowed if v not in labels), key=str)
    return [(value, f"{value} {labels[value]}" if key == "item_type" else labels.get(value, str(value))) for value in ordered]


def field_for(spec: schema.Field) -> forms.Field:
    """One form field for one schema field."""
    common: dict[str, Any] = {"label": spec.label, "required": spec.required}
    if spec.kind in ("str", "text"):
        if spec.choices is not None:
            blank = [] if spec.default else [("", "请选择")]
            return forms.ChoiceField(choices=blank + _choices(spec.key, spec.choices), initial=spec.default or "", **common)
        long = spec.kind == "text" or (spec.max_len or 0) >= TEXTAREA_MIN_CHARS
        widget = forms.Textarea(attrs={"rows": 4 if spec.kind == "text" else 2}) if long else None
        return TextField(max_length=spec.max_len, widget=widget, initial=spec.default or "", **common)
    if spec.kind == "int":
        if spec.choices is not None:
            blank = [("", "请选择")] if spec.default is None else []
            return forms.TypedChoiceField(
                coerce=int, choices=blank + _choices(spec.key, spec.choices), initial=spec.default, empty_value=None, **common
            )
        return forms.IntegerField(min_value=spec.minimum, max_value=spec.maximum, initial=spec.default, **common)
    if spec.kind == "bool":
        return forms.BooleanField(label=spec.label, required=False, initial=bool(spec.default))
    if spec.kind in ("list_str", "list_int"):
        if spec.choices is not None:
            coerce = int if spec.kind == "list_int" else str
            return forms.TypedMultipleChoiceField(
                coerce=coerce, choices=_choices(spec.key, spec.choices), widget=forms.CheckboxSelectMultiple, **common
            )
        return LinesField(**common)
    raise AssertionError(spec.kind)


def _fields(spec: list[schema.Field], exclude: tuple[str, ...] = ()) -> dict[str, forms.Field]:
    return {f.key: field_for(f) for f in spec if f.key not in exclude}


# --- base items ------------------------------------------------------------------------------

ITEM_GROUPS = [
    ("基本信息", ["code", "name", "item_type", "summary", "popularity"]),
    ("设定依据与受理条件", ["legal_basis", "conditions"]),
    ("对象与层级", ["service_objects", "levels", "themes"]),
    ("检索用词", ["aliases", "keywords"]),
    ("审批结果", ["result_name", "result_type", "result_license_type"]),
]
ITEM_KEYS = [f.key for f in schema.ITEM_FIELDS if f.key != "status"]


class ItemForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    reason = TextField(label="修改原因", max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, editing: bool, theme_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, field in _fields(schema.ITEM_FIELDS, exclude=("status",)).items():
            self.fields[key] = field
        self.fields["themes"] = forms.MultipleChoiceField(
            label="主题", required=False, choices=theme_choices, widget=forms.CheckboxSelectMultiple
        )
        self.fields["code"].help_text = "12 位数字或大写字母，保存后不能修改。"
        self.fields["popularity"].help_text = "年办件量，用于排序和“高频事项”。"
        self.order_fields([*ITEM_KEYS, "reason", "version"])
        self.editing = editing
        if editing:
            self.fields["code"].disabled = True
            self.fields["code"].help_text = ""
            self.fields["reason"].required = True
            self.fields["reason"].help_text = "写入修改记录，例如“依据新修订的条例更新受理条件”。"
        else:
            self.fields["reason"].label = "说明"
            self.fields["reason"].help_text = "可不填。"

    def clean_code(self) -> str:
        return str(self.cleaned_data["code"]).strip().upper()

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in ITEM_GROUPS]

    def item_data(self) -> dict[str, Any]:
        return {key: self.cleaned_data[key] for key in ITEM_KEYS}


def _row_form(name: str, spec: list[schema.Field]) -> type[forms.Form]:
    return type(name, (forms.Form,), _fields(spec))


MaterialForm = _row_form("MaterialForm", schema.MATERIAL_FIELDS)
StepForm = _row_form("StepForm", schema.STEP_FIELDS)
FeeForm = _row_form("FeeForm", schema.FEE_FIELDS)
FaqForm = _row_form("FaqForm", schema.FAQ_FIELDS)

# prefix, title, row form, spec: the guide elements edited beside the item.
NESTED = [
    ("materials", "申请材料", MaterialForm, schema.MATERIAL_FIELDS),
    ("steps", "办理流程", StepForm, schema.STEP_FIELDS),
    ("fees", "收费", FeeForm, schema.FEE_FIELDS),
    ("faqs", "常见问题", FaqForm, schema.FAQ_FIELDS),
]
NESTED_EXTRA = 2


def nested_formsets(data: Any = None, initial: dict[str, list[dict[str, Any]]] | None = None) -> list[tuple[str, Any]]:
    """(title, formset) per guide element; rows can be reordered (顺序) and deleted, empty extra rows are skipped."""
    out = []
    for prefix, title, form, _spec in NESTED:
        factory = formset_factory(form, extra=NESTED_EXTRA, can_delete=True, can_order=True)
        rows = (initial or {}).get(prefix)
        out.append((title, factory(data=data, prefix=prefix, initial=rows)))
    return out


def with_added_row(data: Any, prefix: str) -> Any:
    """A copy of the posted data with one more empty row in one formset (the no-JavaScript "增加一行")."""
    form = next(form for p, _title, form, _spec in NESTED if p == prefix)
    data = data.copy()
    total = int(data.get(f"{prefix}-TOTAL_FORMS") or 0)
    data[f"{prefix}-TOTAL_FORMS"] = str(total + 1)
    for name, field in form.base_fields.items():
        initial = field.initial
        if isinstance(field, forms.BooleanField):
            if initial:
                data[f"{prefix}-{total}-{name}"] = "on"
        elif initial not in (None, ""):
            data[f"{prefix}-{total}-{name}"] = str(initial)
    return data


def nested_data(formsets: list[tuple[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    data = {}
    for (prefix, _title, _form, spec), (_t, formset) in zip(NESTED, formsets, strict=True):
        data[prefix] = [{f.key: form.cleaned_data.get(f.key) for f in spec} for form in formset.ordered_forms]
    return data


def attach_item_errors(form: ItemForm, formsets: list[tuple[str, Any]], details: list[str]) -> None:
    """Put each message of the service next to its field when it names one ("“受理条件”不能为空。",
    "申请材料第 2 条：“材料名称”不能为空。"); every message also stays in the summary at the top."""
    titles = dict(formsets)
    for message in details:
        if not isinstance(message, str):
            continue
        match = re.match(r"^(申请材料|办理流程|收费|常见问题)第 (\d+) 条：(.*)$", message)
        if match and match.group(1) in titles:
            rows = titles[match.group(1)].ordered_forms
            index = int(match.group(2)) - 1
            if 0 <= index < len(rows):
                attach_error(rows[index], match.group(3))
            continue
        attach_error(form, message)


def attach_error(form: forms.Form, message: str) -> None:
    """Show a service message beside the field it names by its label (“承诺办结时限”…)."""
    for name, field in form.fields.items():
        if message.startswith(f"“{field.label}”"):
            form.add_error(name, message)
            return


# --- implementations -----------------------------------------------------------------------

IMPL_GROUPS = [
    ("实施主体", ["department", "level", "power_source", "body_nature", "entrusting_body"]),
    (
        "办理时限",
        [
            "case_type",
            "legal_limit",
            "legal_limit_unit",
            "legal_limit_note",
            "promised_limit",
            "promised_limit_unit",
            "promised_limit_note",
        ],
    ),
    ("办理方式", ["handling_forms", "online_depth", "visits", "apply_url", "handling_area", "special_procedures", "intermediary"]),
    ("地点与咨询", ["place", "hours", "consult_channel", "complaint_channel"]),
    ("收费与便民服务", ["fee_required", "online_payment", "appointment", "courier", "kiosk"]),
]
IMPL_KEYS = [f.key for f in schema.IMPLEMENTATION_FIELDS if f.key not in ("base_code", "status")]


class ImplementationForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    reason = TextField(label="修改原因", max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, editing: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, field in _fields(schema.IMPLEMENTATION_FIELDS, exclude=("base_code", "status")).items():
            self.fields[key] = field
        self.fields["department"].help_text = "实施部门的 18 位统一社会信用代码，可在右侧按名称查找。"
        self.fields["level"].help_text = "须与实施部门所在区划的层级一致。"
        self.order_fields([*IMPL_KEYS, "reason", "version"])
        if editing:
            # The department and level make up the implementation code: they cannot change.
            self.fields["department"].disabled = True
            self.fields["level"].disabled = True
            self.fields["department"].help_text = ""
            self.fields["level"].help_text = ""
            self.fields["reason"].required = True
            self.fields["reason"].help_text = "写入修改记录。"
        else:
            self.fields["reason"].label = "说明"
            self.fields["reason"].help_text = "可不填。"

    def clean_department(self) -> str:
        return str(self.cleaned_data["department"]).strip().upper()

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in IMPL_GROUPS]

    def implementation_data(self, base_code: str) -> dict[str, Any]:
        return {"base_code": base_code, **{key: self.cleaned_data[key] for key in IMPL_KEYS}}


class StatusForm(forms.Form):
    """Publish or withdraw; the buttons carry the status. Withdrawing needs a reason (the service says so)."""

    status = forms.ChoiceField(choices=[(Status.PUBLISHED, "发布"), (Status.WITHDRAWN, "撤回")])
    reason = TextField(label="原因", max_length=500, required=False)


class DepartmentLookupForm(forms.Form):
    dq = forms.CharField(label="查找部门", max_length=60, required=False, help_text="部门名称、区划名称或信用代码开头")


# --- lists -----------------------------------------------------------------------------------


class ItemFilterForm(forms.Form):
    q = forms.CharField(label="名称或编码", max_length=60, required=False)
    status = forms.ChoiceField(label="状态", required=False, choices=[("", "全部"), *Status.choices])
    item_type = forms.ChoiceField(label="事项类型", required=False, choices=[("", "全部"), *[(k, v) for k, v in codes.ITEM_TYPES.items()]])
    theme = forms.ChoiceField(label="主题", required=False)
    cursor = forms.CharField(required=False, widget=forms.HiddenInput, max_length=200)

    def __init__(self, *args: Any, theme_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["theme"].choices = [("", "全部"), *theme_choices]  # type: ignore[attr-defined]


class ImplementationFilterForm(forms.Form):
    division = forms.ChoiceField(label="区划（含下级）", required=False)
    impl_cursor = forms.CharField(required=False, widget=forms.HiddenInput, max_length=200)

    def __init__(self, *args: Any, division_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["division"].choices = [("", "全部"), *division_choices]  # type: ignore[attr-defined]


# --- import and export ------------------------------------------------------------------------


class ImportForm(forms.Form):
    file = forms.FileField(label="事项目录文件", help_text="JSON（.json）或 Excel（.xlsx）文件。")

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        suffix = PurePath(upload.name or "").suffix.lower()
        if suffix not in (".json", ".xlsx"):
            raise forms.ValidationError("只能导入 .json 或 .xlsx 文件。")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if upload.size > limit:
            raise forms.ValidationError(f"文件不能超过 {_size(limit)}（所选文件 {_size(upload.size)}），请拆分后分批导入。")
        return upload

    @property
    def kind(self) -> str:
        return PurePath(self.cleaned_data["file"].name).suffix.lower().lstrip(".")


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
    return f"{max(1, round(n / 1024))} KB"


def upload_limit_text() -> str:
    return _size(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


class ExportForm(forms.Form):
    format = forms.ChoiceField(label="文件格式", choices=[("xlsx", "Excel（.xlsx）"), ("json", "JSON（.json）")], initial="xlsx")
    published_only = forms.BooleanField(label="只导出已发布的事项和实施事项", required=False)


# --- calendar --------------------------------------------------------------------------------

WORKDAY_CHOICES = [("1", "上班（调休上班日）"), ("0", "放假（法定节假日）")]


class YearForm(forms.Form):
    year = forms.IntegerField(label="年份", min_value=2000, max_value=2100)


class OverrideForm(forms.Form):
    date = forms.DateField(label="日期", widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))
    is_workday = forms.TypedChoiceField(
        label="这一天", choices=WORKDAY_CHOICES, coerce=lambda v: v == "1", widget=forms.RadioSelect, initial="0"
    )
    note = TextField(label="说明", max_length=100, help_text="例如“国庆节调休上班”“春节”。")


class OverrideDeleteForm(forms.Form):
    date = forms.DateField(widget=forms.HiddenInput)


class CalendarYearForm(forms.Form):
    year = forms.IntegerField(label="年份", min_value=2000, max_value=2100, widget=forms.HiddenInput)
    source = TextField(label="依据", max_length=200, help_text="国务院办公厅关于该年部分节假日安排的通知文号。")
    complete = forms.BooleanField(label="该年度的节假日和调休上班日已全部录入", required=False)


class CountForm(forms.Form):
    start = forms.DateField(label="起算日", widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}), help_text="当日不计入。")
    days = forms.IntegerField(label="工作日数", min_value=0, max_value=999)


# --- zones and synonyms --------------------------------------------------------------------------


class ZoneForm(forms.Form):
    code = forms.RegexField(
        label="编码",
        max_length=40,
        regex=r"^[a-z0-9_\-]+$",
        error_messages={"invalid": "编码只能由小写字母、数字、下划线和连字符组成。"},
        help_text="小写字母、数字、下划线，保存后不能修改。",
    )
    name = TextField(label="名称", max_length=60)
    kind = forms.ChoiceField(label="类型", choices=list(codes.ZONE_KINDS.items()))
    description = TextField(label="说明", max_length=300, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    sort = forms.IntegerField(label="排序", min_value=0, initial=0, help_text="数字小的排在前面。")
    status = forms.ChoiceField(label="状态", choices=Status.choices, initial=Status.DRAFT)
    item_codes = LinesField(
        label="事项基本编码（按显示顺序，每行一个）", required=False, help_text="", widget=forms.Textarea(attrs={"rows": 10})
    )

    def __init__(self, *args: Any, editing: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["code"].disabled = True
            self.fields["code"].help_text = ""

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        if code == "new":
            raise forms.ValidationError("“new”用于新建专区的地址，请换一个编码。")
        return code

    def clean_item_codes(self) -> list[str]:
        return [code.upper() for code in self.cleaned_data["item_codes"]]


class SynonymForm(forms.Form):
    term = TextField(label="口语词", max_length=40, help_text="群众常说的词，例如“社保”。")
    expansions = LinesField(label="标准词", help_text="每行一个，例如“社会保障”。")


class SynonymFilterForm(forms.Form):
    q = forms.CharField(label="查找", max_length=40, required=False)
    cursor = forms.CharField(required=False, widget=forms.HiddenInput, max_length=200)


# --- sign in -----------------------------------------------------------------------------------


class ConsoleLoginForm(AuthenticationForm):
    """Only staff accounts may sign in here; a citizen's password must not open the console."""

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not user.is_staff:
            raise forms.ValidationError("此账号不是工作人员账号，不能登录运营管理后台。", code="not_staff")
