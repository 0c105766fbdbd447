"""Application forms in the console (申请表): the implementations an operator or department
administrator may edit with their current form version, and an editor that works without
JavaScript: a structured editor (fields, steps, commitment), an advanced JSON editor for the
schema and layout, a phone-width preview rendered like the portal's apply page, and the version
history with a summary of what changed and "restore as a new version".

Who may: platform operators (every implementation) and department administrators of the
implementation's department (``StaffRole.Role.DEPT_ADMIN``); anyone else gets 403 on the list and
404 on an implementation (it is "not there" for them). Saving goes through
``cases.forms.application_form_save``, which validates, versions and audits.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tongban.cases import forms as apply_forms
from tongban.cases.models import ApplicationForm
from tongban.catalog.models import Implementation
from tongban.common.errors import DomainError
from tongban.common.pagination import BadCursor, paginate_by_key
from tongban.common.security import CSP
from tongban.identity import access
from tongban.identity.models import StaffRole
from tongban.web.console.access import console_view, forbidden, is_operator
from tongban.web.console.views import not_found

PAGE_SIZE = 50
EXTRA_FIELD_ROWS = 2  # empty rows offered for new fields; "增加字段" adds more
EXTRA_STEP_ROWS = 1
MAX_ROWS = 60
TYPE_LABELS = {"string": "文本", "integer": "整数", "boolean": "是/否（勾选）"}
PREFILL_LABELS = {"": "不自动填写", **{k: f"实名信息：{v}" for k, v in apply_forms.PREFILLS.items()}}
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$|^[\u4e00-\u9fffA-Za-z0-9_（）()]{1,40}$")
SPLIT_RE = re.compile(r"[\s,，、;；]+")
ONE_PAGE = "填写申请信息"  # the title cases.forms.steps_of gives a form without steps
NOT_ALLOWED = "只有平台运营人员和本部门的部门管理员可以编辑申请表。"


# --- who may ---------------------------------------------------------------------------------------


def _editable(account: Any) -> QuerySet[Implementation]:
    """The implementations whose form ``account`` may edit, as one query."""
    qs = Implementation.objects.all()
    if is_operator(account):
        return qs
    return access.scope(qs, account, role=StaffRole.Role.DEPT_ADMIN)


def _may_list(account: Any) -> bool:
    return is_operator(account) or access.departments_for(account, StaffRole.Role.DEPT_ADMIN).exists()


def _implementation(account: Any, code: str) -> Implementation | None:
    return _editable(account).select_related("base", "department", "division").filter(code=code).first()


# --- the list --------------------------------------------------------------------------------------


@console_view
@require_GET
def form_list(request: HttpRequest) -> HttpResponse:
    if not _may_list(request.user):
        return forbidden(request, NOT_ALLOWED)
    q = request.GET.get("q", "").strip()[:60]
    only_with = request.GET.get("with") == "1"
    cursor = request.GET.get("cursor") or None
    current = ApplicationForm.objects.filter(implementation=OuterRef("pk"), is_current=True).order_by("-version").values("version")[:1]
    qs = _editable(request.user).select_related("base", "department").annotate(form_version=Subquery(current))
    if q:
        qs = qs.filter(Q(base__name__icontains=q) | Q(code__startswith=q.upper()) | Q(department__name__icontains=q))
    if only_with:
        qs = qs.filter(application_forms__is_current=True)
    error = ""
    try:
        page = paginate_by_key(qs, key="code", cursor=cursor, limit=PAGE_SIZE)
    except BadCursor as exc:
        error, cursor = exc.message, None
        page = paginate_by_key(qs, key="code", cursor=None, limit=PAGE_SIZE)
    params = {"q": q, "with": "1" if only_with else ""}
    return render(
        request,
        "console/forms/list.html",
        {
            "title": "申请表",
            "section": "forms",
            "rows": page.items,
            "q": q,
            "only_with": only_with,
            "error": error,
            "operator": is_operator(request.user),
            "first_url": _query(params) if cursor else None,
            "next_url": _query({**params, "cursor": page.next_cursor}) if page.next_cursor else None,
        },
    )


def _query(params: dict[str, Any]) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v})


# --- between a form definition and the editor's rows ----------------------------------------------------


@dataclass
class FieldRow:
    name: str = ""
    title: str = ""
    type: str = "string"
    required: bool = False
    enum: str = ""  # one option a line
    max_length: str = ""
    pattern: str = ""
    prefill: str = ""
    hint: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def blank(self) -> bool:
        return not any((self.name, self.title, self.enum, self.max_length, self.pattern, self.prefill, self.hint))


@dataclass
class StepRow:
    title: str = ""
    fields: str = ""  # field names separated by spaces, commas or 、
    errors: list[str] = field(default_factory=list)


@dataclass
class Editor:
    fields: list[FieldRow]
    steps: list[StepRow]
    commitment: bool = False
    commitment_text: str = ""
    schema_json: str = ""
    layout_json: str = ""
    errors: list[str] = field(default_factory=list)  # not tied to one row
    json_errors: list[str] = field(default_factory=list)
    json_open: bool = False


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def editor_from(schema: dict[str, Any], layout: dict[str, Any]) -> Editor:
    schema, layout = apply_forms.ordered(schema, layout)
    layout = {k: v for k, v in layout.items() if k != "order"}  # kept by the platform, not edited
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    hints = layout.get("fields") or {}
    rows = []
    # The steps keep the order (PostgreSQL's jsonb does not keep the order of an object's keys).
    in_steps = [f for s in layout.get("steps") or [] if isinstance(s, dict) for f in s.get("fields") or [] if f in props]
    for name in dict.fromkeys([*in_steps, *props]):
        spec = props[name]
        spec = spec if isinstance(spec, dict) else {}
        hint = hints.get(name) if isinstance(hints.get(name), dict) else {}
        rows.append(
            FieldRow(
                name=name,
                title=str(spec.get("title") or ""),
                type=str(spec.get("type") or "string"),
                required=name in required,
                enum="\n".join(str(o) for o in spec.get("enum") or []),
                max_length=str(spec.get("maxLength") or ""),
                pattern=str(spec.get("pattern") or ""),
                prefill=str(hint.get("prefill") or ""),
                hint=str(hint.get("hint") or ""),
            )
        )
    steps = [
        StepRow(title=str(s.get("title") or ""), fields="、".join(str(f) for f in s.get("fields") or []))
        for s in layout.get("steps") or []
        if isinstance(s, dict)
    ]
    if len(steps) == 1 and steps[0].title == ONE_PAGE:
        steps = []  # one page: the step only keeps the order
    return Editor(
        fields=rows,
        steps=steps,
        commitment=bool(layout.get("commitment")),
        commitment_text=str(layout.get("commitment_text") or ""),
        schema_json=_pretty(schema),
        layout_json=_pretty(layout),
    )


def _pad(editor: Editor, extra_fields: int = EXTRA_FIELD_ROWS, extra_steps: int = EXTRA_STEP_ROWS) -> Editor:
    editor.fields += [FieldRow() for _ in range(max(0, min(extra_fields, MAX_ROWS - len(editor.fields))))]
    editor.steps += [StepRow() for _ in range(max(0, min(extra_steps, MAX_ROWS - len(editor.steps))))]
    return editor


def _count(post: Any, key: str) -> int:
    try:
        return max(0, min(int(post.get(key, "0")), MAX_ROWS))
    except ValueError:
        return 0


def editor_posted(post: Any) -> Editor:
    """The structured editor's rows exactly as typed."""
    rows = [
        FieldRow(
            name=post.get(f"f-{i}-name", "").strip(),
            title=post.get(f"f-{i}-title", "").strip(),
            type=post.get(f"f-{i}-type", "string"),
            required=post.get(f"f-{i}-required") == "1",
            enum=post.get(f"f-{i}-enum", "").strip(),
            max_length=post.get(f"f-{i}-maxlength", "").strip(),
            pattern=post.get(f"f-{i}-pattern", "").strip(),
            prefill=post.get(f"f-{i}-prefill", ""),
            hint=post.get(f"f-{i}-hint", "").strip(),
        )
        for i in range(_count(post, "field_rows"))
    ]
    steps = [
        StepRow(title=post.get(f"s-{i}-title", "").strip(), fields=post.get(f"s-{i}-fields", "").strip())
        for i in range(_count(post, "step_rows"))
    ]
    return Editor(
        fields=rows,
        steps=steps,
        commitment=post.get("commitment") == "1",
        commitment_text=post.get("commitment_text", "").strip(),
    )


def definition_from(editor: Editor, base_layout: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(schema, layout, ok) built from the rows; problems go on the row they belong to. Layout keys
    the structured editor does not know are kept from ``base_layout``."""
    props: dict[str, Any] = {}
    required: list[str] = []
    hints: dict[str, Any] = {}
    ok = True
    seen: set[str] = set()
    for row in editor.fields:
        if row.blank:
            continue
        if not row.name:
            row.errors.append("请填写字段名（例如 address 或 住址），清空整行可删除该字段。")
        elif not NAME_RE.match(row.name):
            row.errors.append("字段名只能用字母、数字、下划线或汉字，最多 40 个字符。")
        elif row.name in seen:
            row.errors.append(f"字段名 {row.name} 重复了，每个字段名只能用一次。")
        seen.add(row.name)
        if row.type not in apply_forms.TYPES:
            row.errors.append("请选择字段类型。")
        spec: dict[str, Any] = {"type": row.type}
        if row.title:
            spec["title"] = row.title
        options = [o.strip() for o in row.enum.splitlines() if o.strip()]
        if options:
            if row.type == "boolean":
                row.errors.append("“是/否”字段不能设置选项，请清空选项或改为文本。")
            elif row.type == "integer":
                try:
                    spec["enum"] = [int(o) for o in options]
                except ValueError:
                    row.errors.append("整数字段的选项必须都是整数。")
            else:
                spec["enum"] = options
        if row.max_length:
            if row.type != "string":
                row.errors.append("只有文本字段可以设置最多字数。")
            elif not row.max_length.isdigit() or int(row.max_length) < 1:
                row.errors.append("最多字数请填写正整数，例如 50。")
            else:
                spec["maxLength"] = int(row.max_length)
        if row.pattern:
            if row.type != "string":
                row.errors.append("只有文本字段可以设置格式（正则表达式）。")
            else:
                try:
                    re.compile(row.pattern)
                    spec["pattern"] = row.pattern
                except re.error:
                    row.errors.append("格式不是有效的正则表达式，例如手机号可写 ^1\\d{10}$。")
        if row.prefill and row.prefill not in apply_forms.PREFILLS:
            row.errors.append("请从列表中选择自动填写的内容。")
        if row.errors:
            ok = False
            continue
        props[row.name] = spec
        if row.required:
            required.append(row.name)
        hint = {k: v for k, v in (("prefill", row.prefill), ("hint", row.hint)) if v}
        if hint:
            hints[row.name] = hint
    if not props and ok:
        editor.errors.append("表单至少要有一个字段。")
        ok = False
    steps = []
    placed: set[str] = set()
    for step in editor.steps:
        if not step.title and not step.fields:
            continue
        names = [n for n in SPLIT_RE.split(step.fields) if n]
        unknown = [n for n in names if n not in seen]
        if not names:
            step.errors.append("请列出这一步包含的字段名。")
        elif unknown:
            step.errors.append(f"这些字段不在表单中：{'、'.join(unknown)}。")
        if step.errors:
            ok = False
        placed.update(names)
        steps.append({"title": step.title or f"第 {len(steps) + 1} 步", "fields": names})
    missing = [n for n in props if n not in placed]
    if steps and missing and ok:
        editor.errors.append(f"分步填写时每个字段都要放在某一步中，这些字段还没有放：{'、'.join(missing)}。")
        ok = False
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    layout = {k: v for k, v in base_layout.items() if k not in ("steps", "fields", "commitment", "commitment_text")}
    # One page is one step of every field in the rows' order: the layout keeps the order.
    layout["steps"] = steps or [{"title": ONE_PAGE, "fields": list(props)}]
    if hints:
        layout["fields"] = hints
    if editor.commitment:
        layout["commitment"] = True
        if editor.commitment_text:
            layout["commitment_text"] = editor.commitment_text
    elif editor.commitment_text:
        editor.errors.append("填写了承诺书内容，但没有勾选“实行告知承诺制”：请勾选，或清空承诺书内容。")
        ok = False
    return schema, layout, ok


def _unplaced(schema: Any, layout: Any) -> list[str]:
    """An editor-level check the validator leaves out: with steps, a field in no step is never asked."""
    if not isinstance(schema, dict) or not isinstance(layout, dict) or not isinstance(layout.get("steps"), list):
        return []
    placed = {f for s in layout["steps"] if isinstance(s, dict) for f in s.get("fields") or []}
    missing = [n for n in schema.get("properties") or {} if n not in placed]
    return [f"分步填写时每个字段都要放在某一步中，这些字段还没有放：{'、'.join(missing)}。"] if missing else []


def _place_problems(editor: Editor, problems: list[str]) -> None:
    """Put the validator's problems next to the row they name; the rest at the top."""
    by_name = {row.name: row for row in editor.fields if row.name}
    for problem in problems:
        match = re.match(r"^(?:布局中的)?字段 (\S+?) ", problem)
        row = by_name.get(match.group(1)) if match else None
        (row.errors if row is not None else editor.errors).append(problem)


# --- the editor ----------------------------------------------------------------------------------------


@console_view
@require_http_methods(["GET", "POST"])
def form_edit(request: HttpRequest, code: str) -> HttpResponse:
    impl = _implementation(request.user, code)
    if impl is None:
        return _missing(request, code)
    current = apply_forms.form_current(impl)
    base_layout = dict(current.layout) if current else {}
    if request.method == "GET":
        editor = editor_from(current.schema, current.layout) if current else _starter()
        return _render(request, impl, current, _pad(editor), preview_url=_preview_url(impl) if current else "")
    go = request.POST.get("go", "save")
    if go == "save_json":
        return _save_json(request, impl, current)
    editor = editor_posted(request.POST)
    schema, layout, ok = definition_from(editor, base_layout)
    editor.schema_json, editor.layout_json = _pretty(schema), _pretty(layout)
    if go == "add_field":
        return _render(request, impl, current, _pad(_clear(editor), extra_fields=3, extra_steps=0))
    if go == "add_step":
        return _render(request, impl, current, _pad(_clear(editor), extra_fields=0, extra_steps=1))
    if ok:
        problems = apply_forms.schema_problems(schema, layout) + _unplaced(schema, layout)
        if problems:
            _place_problems(editor, problems)
            ok = False
    if not ok:
        return _render(request, impl, current, _pad(editor, 0, 0), status=422)
    if go == "preview":  # the frame shows what was typed, kept for it in the session
        request.session[_draft_key(impl)] = {"schema": schema, "layout": layout}
        return _render(request, impl, current, _pad(editor, 0, 0), preview_url=_preview_url(impl, draft=True), previewing=True)
    return _save(request, impl, current, schema, layout, lambda exc: _render_failed(request, impl, current, editor, exc))


def _clear(editor: Editor) -> Editor:
    """Adding a row shows the form again: no errors yet."""
    for row in [*editor.fields, *editor.steps]:
        row.errors = []
    editor.errors = []
    return editor


def _render_failed(
    request: HttpRequest, impl: Implementation, current: ApplicationForm | None, editor: Editor, exc: DomainError
) -> HttpResponse:
    problems = exc.details.get("problems") if isinstance(exc.details, dict) else None
    _place_problems(editor, list(problems) if problems else [exc.message])
    return _render(request, impl, current, _pad(editor, 0, 0), status=exc.status)


def _save_json(request: HttpRequest, impl: Implementation, current: ApplicationForm | None) -> HttpResponse:
    schema_text = request.POST.get("schema_json", "")
    layout_text = request.POST.get("layout_json", "").strip() or "{}"
    problems: list[str] = []
    schema: Any = None
    layout: Any = None
    try:
        schema = json.loads(schema_text)
    except ValueError as exc:
        problems.append(f"表单定义（schema）不是有效的 JSON：第 {getattr(exc, 'lineno', '?')} 行附近有错误。")
    try:
        layout = json.loads(layout_text)
    except ValueError as exc:
        problems.append(f"布局（layout）不是有效的 JSON：第 {getattr(exc, 'lineno', '?')} 行附近有错误。")
    if not problems:
        problems = apply_forms.schema_problems(schema, layout) + _unplaced(schema, layout)
    editor = editor_from(current.schema, current.layout) if current else _starter()
    editor.schema_json, editor.layout_json, editor.json_open = schema_text, request.POST.get("layout_json", ""), True
    if problems:
        editor.json_errors = problems
        return _render(request, impl, current, _pad(editor), status=422)

    def failed(exc: DomainError) -> HttpResponse:
        details = exc.details.get("problems") if isinstance(exc.details, dict) else None
        editor.json_errors = list(details) if details else [exc.message]
        return _render(request, impl, current, _pad(editor), status=exc.status)

    return _save(request, impl, current, schema, layout, failed)


def _same(current: ApplicationForm, schema: Any, layout: Any) -> bool:
    """Whether saving would repeat the current version (the fields' order included)."""
    if not isinstance(schema, dict) or not isinstance(layout, dict):
        return False
    kept = {k: v for k, v in current.layout.items() if k != "order"}
    given = {k: v for k, v in layout.items() if k != "order"}
    order = list(schema.get("properties") or {})
    return current.schema == schema and kept == given and apply_forms.field_names(current) == order


def _save(
    request: HttpRequest, impl: Implementation, current: ApplicationForm | None, schema: Any, layout: Any, failed: Any
) -> HttpResponse:
    if current is not None and _same(current, schema, layout):
        messages.info(request, f"内容与当前第 {current.version} 版相同，没有保存新版本。")
        return redirect("console:form_edit", code=impl.code)
    try:
        saved = apply_forms.application_form_save(actor=request.user, implementation=impl, schema=schema, layout=layout)
    except DomainError as exc:
        return failed(exc)  # type: ignore[no-any-return]
    messages.success(request, f"已保存为第 {saved.version} 版。此后的新申请使用新版本，已提交的办件仍保留填写时的版本。")
    return redirect("console:form_edit", code=impl.code)


@console_view
@require_POST
def form_restore(request: HttpRequest, code: str) -> HttpResponse:
    impl = _implementation(request.user, code)
    if impl is None:
        return _missing(request, code)
    try:
        number = int(request.POST.get("version", ""))
    except ValueError:
        number = 0
    old = ApplicationForm.objects.filter(implementation=impl, version=number).first()
    if old is None:
        return not_found(request, f"没有找到第 {request.POST.get('version', '')[:10]} 版申请表。")
    current = apply_forms.form_current(impl)
    if current is not None and current.version == old.version:
        messages.info(request, f"第 {old.version} 版就是当前版本，无需恢复。")
        return redirect("console:form_edit", code=impl.code)
    try:
        saved = apply_forms.application_form_save(actor=request.user, implementation=impl, schema=old.schema, layout=old.layout)
    except DomainError as exc:  # an old version the validator no longer accepts
        messages.error(request, f"第 {old.version} 版不能恢复：{exc.message}")
        return redirect("console:form_edit", code=impl.code)
    messages.success(request, f"已将第 {old.version} 版恢复为新的第 {saved.version} 版。")
    return redirect("console:form_edit", code=impl.code)


def _missing(request: HttpRequest, code: str) -> HttpResponse:
    if not _may_list(request.user):
        return forbidden(request, NOT_ALLOWED)
    return not_found(request, f"没有找到实施事项“{code[:60]}”，或您无权编辑它的申请表。")


def _starter() -> Editor:
    """A new form starts with the applicant's identity, filled by the platform."""
    return Editor(
        fields=[
            FieldRow(name="applicant_name", title="申请人姓名", required=True, prefill="name"),
            FieldRow(name="applicant_id", title="身份证号码", required=True, prefill="id_number"),
            FieldRow(name="applicant_mobile", title="联系电话", required=True, prefill="mobile"),
        ],
        steps=[],
        schema_json=_pretty({"type": "object", "properties": {}}),
        layout_json=_pretty({}),
    )


# --- history and preview --------------------------------------------------------------------------------


def version_summary(before: ApplicationForm | None, after: ApplicationForm) -> list[str]:
    """What a version changed compared with the one before it, in words."""
    props = after.schema.get("properties") or {}
    if before is None:
        return [f"首个版本：{len(props)} 个字段，{len(apply_forms.steps_of(after))} 步。"]
    old = before.schema.get("properties") or {}
    lines = []
    added = [apply_forms.field_label(after, n) for n in props if n not in old]
    removed = [apply_forms.field_label(before, n) for n in old if n not in props]
    old_hints, new_hints = before.layout.get("fields") or {}, after.layout.get("fields") or {}
    old_required, new_required = set(before.schema.get("required") or []), set(after.schema.get("required") or [])
    changed = [
        apply_forms.field_label(after, n)
        for n in props
        if n in old and (props[n] != old[n] or old_hints.get(n) != new_hints.get(n) or (n in old_required) != (n in new_required))
    ]
    if added:
        lines.append("新增字段：" + "、".join(added))
    if removed:
        lines.append("删除字段：" + "、".join(removed))
    if changed:
        lines.append("修改字段：" + "、".join(changed))
    if list(props) != list(old) and not added and not removed:
        lines.append("调整了字段顺序")
    if apply_forms.steps_of(before) != apply_forms.steps_of(after):
        lines.append(f"分步调整为 {len(apply_forms.steps_of(after))} 步")
    if bool(before.layout.get("commitment")) != bool(after.layout.get("commitment")):
        lines.append("开启告知承诺制" if after.layout.get("commitment") else "取消告知承诺制")
    elif before.layout.get("commitment_text") != after.layout.get("commitment_text"):
        lines.append("修改了承诺书内容")
    if not lines:
        lines.append("内容与上一版相同（恢复或重新保存）")
    return lines


def _preview_fields(form: ApplicationForm, names: list[str]) -> list[dict[str, Any]]:
    props = form.schema.get("properties") or {}
    hints = form.layout.get("fields") or {}
    required = set(form.schema.get("required") or [])
    out = []
    for name in names:
        spec = props.get(name) or {}
        hint = hints.get(name) if isinstance(hints.get(name), dict) else {}
        kind = spec.get("type", "string")
        prefill = str(hint.get("prefill") or "")
        out.append(
            {
                "name": name,
                "label": apply_forms.field_label(form, name),
                "widget": "checkbox" if kind == "boolean" else "select" if "enum" in spec else "number" if kind == "integer" else "text",
                "options": [str(o) for o in spec.get("enum") or []],
                "maxlength": spec.get("maxLength", 0),
                "required": name in required,
                "hint": str(hint.get("hint") or ""),
                "locked": prefill in apply_forms.PREFILLS,
                "sample": f"（{apply_forms.PREFILLS[prefill]}，按实名信息填写）" if prefill in apply_forms.PREFILLS else "",
            }
        )
    return out


def preview_html(impl: Implementation, form: ApplicationForm) -> str:
    """The form as the portal shows it on a phone, every step one after the other (inert)."""
    steps = [{"title": s["title"], "fields": _preview_fields(form, s["fields"])} for s in apply_forms.steps_of(form)]
    return render_to_string(
        "console/forms/preview.html",
        {
            "item": impl.base,
            "steps": steps,
            "commitment": bool(form.layout.get("commitment")),
            "commitment_text": str(form.layout.get("commitment_text") or apply_forms.DEFAULT_COMMITMENT),
            "password_min": apply_forms.PASSWORD_MIN,
            "password_max": apply_forms.PASSWORD_MAX,
        },
    )


def _draft_key(impl: Implementation) -> str:
    return f"form-preview:{impl.code}"


def _preview_url(impl: Implementation, *, draft: bool = False) -> str:
    url = reverse("console:form_preview", args=[impl.code])
    return url + ("?draft=1" if draft else "")


FRAMEABLE_CSP = CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'")


@console_view
@require_GET
@xframe_options_sameorigin
def form_preview(request: HttpRequest, code: str) -> HttpResponse:
    """The phone preview shown in the editor's frame: the current version, one of the history
    (``?version=``), or what was typed and previewed (``?draft=1``, kept in the session)."""
    impl = _implementation(request.user, code)
    if impl is None:
        return _missing(request, code)
    form: ApplicationForm | None
    if request.GET.get("draft"):
        kept = request.session.get(_draft_key(impl))
        form = ApplicationForm(implementation=impl, version=0, schema=kept["schema"], layout=kept["layout"]) if kept else None
    elif request.GET.get("version", "").isdigit():
        form = ApplicationForm.objects.filter(implementation=impl, version=int(request.GET["version"])).first()
    else:
        form = apply_forms.form_current(impl)
    if form is None:
        return not_found(request, "没有可预览的申请表。")
    response = HttpResponse(preview_html(impl, form))
    response["Content-Security-Policy"] = FRAMEABLE_CSP
    return response


def _render(
    request: HttpRequest,
    impl: Implementation,
    current: ApplicationForm | None,
    editor: Editor,
    *,
    preview_url: str = "",
    previewing: bool = False,
    status: int = 200,
) -> HttpResponse:
    versions = list(ApplicationForm.objects.filter(implementation=impl).select_related("created_by").order_by("version"))
    history = [(v, version_summary(versions[i - 1] if i else None, v)) for i, v in enumerate(versions)]
    history.reverse()
    row_errors = sum(len(r.errors) for r in [*editor.fields, *editor.steps])
    return render(
        request,
        "console/forms/edit.html",
        {
            "title": f"申请表：{impl.base.name}",
            "section": "forms",
            "impl": impl,
            "current": current,
            "editor": editor,
            "field_rows": list(enumerate(editor.fields)),
            "step_rows": list(enumerate(editor.steps)),
            "field_names": [r.name for r in editor.fields if r.name],
            "has_errors": bool(editor.errors or row_errors),
            "row_errors": row_errors,
            "types": list(TYPE_LABELS.items()),
            "prefills": list(PREFILL_LABELS.items()),
            "preview_url": preview_url,
            "previewing": previewing,
            "history": history,
            "default_commitment": apply_forms.DEFAULT_COMMITMENT,
        },
        status=status,
    )
