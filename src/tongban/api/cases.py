"""/api/v1/cases: department systems pull their department's cases, take steps, attach results.

Authentication as for the messages API (api/auth.py): the system's API key, or an OAuth2
client-credentials token with scope ``cases``. A system acts for its own department only: a case
of another department answers exactly as a case that does not exist (404). Test keys
(``tb_test_``) may read but not write: there is no sandbox of real cases.

Pulling changes: ``GET /cases/changes?after=<cursor>`` returns the timeline events of the
department's cases in the order of their sequence numbers, after the position the system kept from
its last pull. A sequence number is given when the event is written, not when its transaction
commits, so a sequence read at the wrong moment could skip an event committed a moment later with
a smaller number (the same holds for ``updated_at``, with clock skew between servers on top). The
feed therefore serves, in sequence order, only the events up to the first one younger than
``SETTLE_SECONDS``: any step's transaction has long committed by then, so every event with a
smaller number is visible too, and an event stamped a moment later but numbered lower is waited
for rather than passed over. The cursor is the sequence, so nothing is read twice and nothing is
missed however often or rarely a system pulls.

Steps (``POST /cases/{code}/actions``) run the state machine as a clerk of the department with no
person behind it; the audit trail records the system (``case.api_action``), and the national
exchange names it as the step's handler (cases/exchange.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db import transaction
from django.http import FileResponse, HttpRequest
from django.utils import timezone
from ninja import Field, Form, Header, Router, Schema, Status, UploadedFile
from ninja import File as FileParam

from tongban.api.auth import ClientKey
from tongban.api.schemas import ErrorOut
from tongban.cases import machine
from tongban.cases import services as cases
from tongban.cases.exchange import API_ACTION
from tongban.cases.models import Case, CaseDocument, CaseEvent, CaseMaterial, StoredFile
from tongban.common.audit import audit_record
from tongban.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tongban.common.masking import mask_id_number
from tongban.common.models import AuditEvent
from tongban.common.pagination import BadCursor, decode_cursor, encode_cursor, paginate_by_key
from tongban.identity.models import ApiClient, ApiKey

router = Router(tags=["办件"])
auth = ClientKey(scope="cases")

# Events younger than this are not served by the change feed yet (see the module's docstring).
SETTLE_SECONDS = 5
API_DOCUMENT = "case.api_document"
MAX_LIMIT = 200
STATES = [s.value for s in machine.State if s != machine.State.DRAFT]


class StepResultOut(Schema):
    code: int
    name: str


class CaseOut(Schema):
    code: str = Field(..., description="办件编号（43 位）")
    state: str = Field(..., description="办件状态代码（submitted、accepted、suspended、decided、concluded 等）")
    state_name: str
    version: int = Field(..., description="办件版本号：办理时作为 expected_version 提交，防止并发覆盖")
    implementation_code: str
    item_name: str
    channel: int = Field(..., description="申报渠道：0 窗口，1 网上")
    submitted_at: dt.datetime | None
    accepted_on: dt.date | None
    due_legal: dt.date | None
    due_promised: dt.date | None
    conclusion: int | None = Field(None, description="办结结果代码：0 出证办结（准予）… 6 不予受理")
    updated_at: dt.datetime


class CasePage(Schema):
    items: list[CaseOut]
    next_cursor: str | None


class ChangeOut(Schema):
    sequence: int = Field(..., description="事件序号（在平台内递增）")
    case_code: str
    action: str
    from_state: str
    to_state: str
    step_result: int | None
    conclusion: int | None
    special_step: int | None
    at: dt.datetime


class ChangePage(Schema):
    items: list[ChangeOut]
    next_cursor: str = Field(..., description="下次拉取时作为 after 提交；没有新变化时与本次提交的相同")
    more: bool = Field(..., description="是否还有已到达的变化未返回（有则立即再拉一次）")


class FileOut(Schema):
    id: uuid.UUID
    name: str
    content_type: str
    size: int
    sha256: str
    url: str


class MaterialOut(Schema):
    id: uuid.UUID
    name: str
    source: str = Field(..., description="upload 本次上传，library 材料库复用，licence 电子证照，window_scan 窗口扫描，paper 纸质材料")
    source_name: str
    licence_type: str
    submission_round: int
    file: FileOut | None


class DocumentOut(Schema):
    id: uuid.UUID
    kind: str
    title: str
    file: FileOut
    created_at: dt.datetime


class EventOut(Schema):
    sequence: int
    action: str
    label: str
    from_state: str
    to_state: str
    actor_kind: str
    opinion: str
    step_result: StepResultOut | None
    conclusion: StepResultOut | None
    special_step: StepResultOut | None
    at: dt.datetime


class ApplicantOut(Schema):
    name: str
    id_number_masked: str


class CaseDetailOut(CaseOut):
    applicant: ApplicantOut
    form_data: dict[str, Any]
    materials: list[MaterialOut]
    documents: list[DocumentOut]
    events: list[EventOut]
    allowed_actions: list[str] = Field(..., description="本系统在当前状态下可以执行的办理动作")


class ProblemIn(Schema):
    material: str = Field(..., description="材料名称（须在事项材料清单中）")
    reason: str
    new_in_correction: bool = False


class ActionIn(Schema):
    action: str = Field(
        ...,
        description=(
            "办理动作：accept、request_correction、refuse、ask_supplement、suspend、resume、extend、"
            "approve、deny、conclude、deliver、return_uncorrected"
        ),
    )
    expected_version: int = Field(..., description="调用方看到的办件版本号")
    opinion: str = Field("", max_length=2000, description="办理意见；不予受理、不予许可、挂起等必填")
    special_step: int | None = Field(None, description="挂起时的特别程序种类：2 听证，3 公示，4 核实，5 挂起（其他）")
    problems: list[ProblemIn] | None = Field(None, description="request_correction（一次性告知补正）时必填：全部问题一次列出")


class ActionOut(Schema):
    case: CaseOut
    event: EventOut


# --- helpers ---------------------------------------------------------------------------------------


def _client(request: HttpRequest) -> ApiClient:
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    return key.client


def _writer(request: HttpRequest) -> ApiClient:
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    if key.kind == ApiKey.Kind.TEST:
        raise PermissionDenied("测试密钥只能查询办件，不能办理或上传结果。", code="test_key_read_only")
    return key.client


def _case_for(client: ApiClient, code: str, *, lock: bool = False) -> Case:
    """The case if it is this system's department's and was submitted; otherwise what an unknown
    code gets."""
    rows = Case.objects.select_related("implementation__base", "applicant").filter(code=code, department_id=client.department_id)
    if lock:
        rows = rows.select_for_update(of=("self",))
    case = rows.exclude(state=machine.State.DRAFT).first()
    if case is None:
        raise NotFound("没有找到这个办件。", code="case_unknown")
    return case


def _case_out(case: Case, cls: type[CaseOut] = CaseOut, **extra: Any) -> Any:
    return cls(
        code=case.code or "",
        state=case.state,
        state_name=machine.LABELS[machine.State(case.state)],
        version=case.version,
        implementation_code=case.implementation.code,
        item_name=case.implementation.base.name,
        channel=case.channel,
        submitted_at=case.submitted_at,
        accepted_on=case.accepted_on,
        due_legal=case.due_legal,
        due_promised=case.due_promised,
        conclusion=case.conclusion,
        updated_at=case.updated_at,
        **extra,
    )


def _code(table: dict[int, str], value: int | None) -> StepResultOut | None:
    return StepResultOut(code=value, name=table.get(value, "")) if value is not None else None


def _event_out(event: CaseEvent) -> EventOut:
    transition = machine.TRANSITIONS.get(event.action)
    return EventOut(
        sequence=event.pk,
        action=event.action,
        label=transition.label if transition else event.action,
        from_state=event.from_state,
        to_state=event.to_state,
        actor_kind=event.actor_kind,
        opinion=event.opinion,
        step_result=_code(machine.STEP_RESULTS, event.step_result),
        conclusion=_code(machine.CONCLUSIONS, event.conclusion),
        special_step=_code(machine.SPECIAL_STEPS, event.special_step),
        at=event.at,
    )


def _file_out(case: Case, stored: StoredFile) -> FileOut:
    return FileOut(
        id=stored.public_id,
        name=stored.name,
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
        url=f"/api/v1/cases/{case.code}/files/{stored.public_id}",
    )


def _document_out(case: Case, document: CaseDocument) -> DocumentOut:
    return DocumentOut(
        id=document.public_id, kind=document.kind, title=document.title, file=_file_out(case, document.file), created_at=document.created_at
    )


def _detail(case: Case) -> CaseDetailOut:
    sources = dict(CaseMaterial.Source.choices)
    materials = [
        MaterialOut(
            id=m.public_id,
            name=m.name,
            source=m.source,
            source_name=sources.get(m.source, m.source),
            licence_type=m.licence_type,
            submission_round=m.submission_round,
            file=_file_out(case, m.file) if m.file else None,
        )
        for m in case.materials.select_related("file").order_by("id")
    ]
    documents = [_document_out(case, d) for d in case.documents.select_related("file").order_by("id")]
    events = [_event_out(e) for e in case.events.order_by("id")]
    applicant = case.applicant
    allowed = [t.action for t in machine.allowed(machine.State(case.state), machine.Actor.CLERK)]
    return _case_out(  # type: ignore[no-any-return]
        case,
        CaseDetailOut,
        applicant=ApplicantOut(
            name=applicant.display_name, id_number_masked=mask_id_number(applicant.id_number) if applicant.id_number_sealed else ""
        ),
        form_data=case.form_data,
        materials=materials,
        documents=documents,
        events=events,
        allowed_actions=allowed,
    )


def _idempotency_key(raw: str) -> str:
    if len(raw) > 100:
        raise ValidationFailed("Idempotency-Key 最长 100 个字符。", code="idempotency_key_too_long")
    return raw


def _earlier(case: Case, client: ApiClient, audit_action: str, key: str) -> dict[str, Any] | None:
    """What this system did on this case under this Idempotency-Key before, if anything (the audit
    row written with it, in the same transaction)."""
    if not key:
        return None
    for after in AuditEvent.objects.filter(action=audit_action, object_type="case", object_id=str(case.public_id)).values_list(
        "after", flat=True
    ):
        if isinstance(after, dict) and after.get("client") == str(client.public_id) and after.get("idempotency_key") == key:
            return after
    return None


# --- endpoints -------------------------------------------------------------------------------------

READ = {401: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}


@router.get(
    "/cases",
    auth=auth,
    response={200: CasePage, **READ},
    summary="本部门的办件（新的在前，游标分页）",
    description="不含草稿。可按 `state` 筛选。要跟上新办件与变化，请用 `GET /cases/changes`。",
    operation_id="list_cases",
)
def list_cases(request: HttpRequest, state: str | None = None, cursor: str | None = None, limit: int = 50) -> CasePage:
    client = _client(request)
    rows = Case.objects.select_related("implementation__base").filter(department_id=client.department_id).exclude(state=machine.State.DRAFT)
    if state:
        if state not in STATES:
            raise ValidationFailed(
                "办件状态代码不对。", code="state_unknown", details={"states": [s.value for s in machine.State if s != "draft"]}
            )
        rows = rows.filter(state=state)
    page = paginate_by_key(rows, key="-id", cursor=cursor, limit=max(1, min(limit, MAX_LIMIT)))
    return CasePage(items=[_case_out(c) for c in page.items], next_cursor=page.next_cursor)


@router.get(
    "/cases/changes",
    auth=auth,
    response={200: ChangePage, **READ},
    summary="拉取本部门办件的新变化（新办件与每一步办理，按事件序号，不重不漏）",
    description=(
        "首次不带 `after` 从头拉取；之后每次提交上次返回的 `next_cursor`。"
        f"只返回 {SETTLE_SECONDS} 秒以前写入的事件，以保证并发提交时不遗漏；`more` 为 true 时立即再拉一次。"
    ),
    operation_id="list_case_changes",
)
def list_case_changes(request: HttpRequest, after: str | None = None, limit: int = 100) -> ChangePage:
    client = _client(request)
    last = 0
    if after:
        last = decode_cursor(after)
        if not isinstance(last, int) or isinstance(last, bool) or last < 0:
            raise BadCursor("翻页参数无效，请从第一页重新开始。")
    limit = max(1, min(limit, MAX_LIMIT))
    settled = timezone.now() - dt.timedelta(seconds=SETTLE_SECONDS)
    fetched = list(
        CaseEvent.objects.select_related("case").filter(case__department_id=client.department_id, id__gt=last).order_by("id")[: limit + 1]
    )
    # Serve the settled prefix only: an event stamped a moment later may hold a smaller number
    # than one stamped before it, and must not be passed over while it settles.
    rows = []
    for event in fetched[:limit]:
        if event.at >= settled:
            break
        rows.append(event)
    more = len(fetched) > limit and len(rows) == limit
    items = [
        ChangeOut(
            sequence=e.pk,
            case_code=e.case.code or "",
            action=e.action,
            from_state=e.from_state,
            to_state=e.to_state,
            step_result=e.step_result,
            conclusion=e.conclusion,
            special_step=e.special_step,
            at=e.at,
        )
        for e in rows
    ]
    return ChangePage(items=items, next_cursor=encode_cursor(rows[-1].pk if rows else last), more=more)


@router.get(
    "/cases/{code}",
    auth=auth,
    response={200: CaseDetailOut, **READ},
    summary="办件详情：表单、材料（含下载地址）、结果文书、办理过程",
    operation_id="get_case",
)
def get_case(request: HttpRequest, code: str) -> CaseDetailOut:
    return _detail(_case_for(_client(request), code))


@router.get(
    "/cases/{code}/files/{file_id}",
    auth=auth,
    response={200: None, **READ},
    summary="下载办件的材料或结果文书文件",
    operation_id="get_case_file",
)
def get_case_file(request: HttpRequest, code: str, file_id: str) -> FileResponse:
    case = _case_for(_client(request), code)
    try:
        key = uuid.UUID(file_id)
    except ValueError:
        key = None
    stored = None
    if key is not None:
        stored = (
            StoredFile.objects.filter(public_id=key).filter(uses__case=case).first()
            or StoredFile.objects.filter(public_id=key, pk__in=CaseDocument.objects.filter(case=case).values("file")).first()
        )
    if stored is None:
        raise NotFound("这个办件没有这份文件。", code="file_unknown")
    return FileResponse(stored.file.open("rb"), content_type=stored.content_type, as_attachment=True, filename=stored.name)


@router.post(
    "/cases/{code}/actions",
    auth=auth,
    response={201: ActionOut, 200: ActionOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut},
    summary="办理一步（受理、补正告知、不予受理、挂起/恢复、延期、准予/不予许可、办结、送达……）",
    description=(
        "以本部门工作人员的身份执行状态机的一步，须提交看到的 `expected_version`：办件已被他人处理时返回 409 `case_changed`，"
        "当前状态不能执行该动作时返回 409 `case_transition`。带 `Idempotency-Key` 重复提交只生效一次（返回 200 与当时的结果）。"
    ),
    operation_id="act_on_case",
)
def act_on_case(request: HttpRequest, code: str, payload: ActionIn, idempotency_key: str = Header("", alias="Idempotency-Key")) -> Status:
    client = _writer(request)
    key = _idempotency_key(idempotency_key)
    with transaction.atomic():
        case = _case_for(client, code, lock=True)  # steps on one case queue here, so a repeated key is seen
        earlier = _earlier(case, client, API_ACTION, key)
        if earlier is not None:
            if (earlier.get("action"), earlier.get("expected_version")) != (payload.action, payload.expected_version):
                raise Conflict("该幂等键已用于这个办件上的另一步办理。", code="idempotency_key_reused")
            event = CaseEvent.objects.get(pk=earlier["event"])
            return Status(200, ActionOut(case=_case_out(case), event=_event_out(event)))
        if payload.action == "request_correction":
            problems = [p.dict() for p in payload.problems or []]
            cases.correction_notice(actor=None, case_id=str(case.public_id), expected_version=payload.expected_version, problems=problems)  # type: ignore[arg-type]
        else:
            if payload.problems:
                raise ValidationFailed("只有一次性告知补正（request_correction）才提交 problems。", code="problems_unexpected")
            cases.case_act(
                actor=None,
                case_id=str(case.public_id),
                action=payload.action,
                expected_version=payload.expected_version,
                opinion=payload.opinion,
                actor_kind=machine.Actor.CLERK.value,
                special_step=payload.special_step,
            )
        case.refresh_from_db()
        event = case.events.order_by("-id")[0]  # the step just taken, in this transaction
        audit_record(
            actor=None,
            action=API_ACTION,
            object_type="case",
            object_id=str(case.public_id),
            after={
                "client": str(client.public_id),
                "client_name": client.name,
                "action": payload.action,
                "expected_version": payload.expected_version,
                "event": event.pk,
                "version": case.version,
                "idempotency_key": key,
            },
            reason=f"接入系统办理：{client.name}",
        )
    return Status(201, ActionOut(case=_case_out(case), event=_event_out(event)))


RESULT_STATES = frozenset({machine.State.DECIDED, machine.State.CONCLUDED, machine.State.DELIVERED})


@router.post(
    "/cases/{code}/documents",
    auth=auth,
    response={201: DocumentOut, 200: DocumentOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut},
    summary="上传办理结果文书（multipart：file、title）",
    description=(
        "决定作出后（已决定、已办结、已送达）可上传；文件类型按内容识别（PDF、JPG、PNG），大小有上限。"
        "申请人在“我的办件”中可以看到并下载。带 `Idempotency-Key` 重复提交只生效一次。"
    ),
    operation_id="add_case_document",
)
def add_case_document(
    request: HttpRequest,
    code: str,
    file: UploadedFile = FileParam(..., description="结果文书文件"),  # noqa: B008
    title: str = Form(..., max_length=200, description="文书名称，如“准予行政许可决定书”"),
    idempotency_key: str = Header("", alias="Idempotency-Key"),
) -> Status:
    from tongban.cases.materials import store_file

    client = _writer(request)
    key = _idempotency_key(idempotency_key)
    if not title.strip():
        raise ValidationFailed("请填写文书名称。", code="title_required")
    with transaction.atomic():
        case = _case_for(client, code, lock=True)
        earlier = _earlier(case, client, API_DOCUMENT, key)
        if earlier is not None:
            document = CaseDocument.objects.select_related("file").get(pk=earlier["document"])
            return Status(200, _document_out(case, document))
        if machine.State(case.state) not in RESULT_STATES:
            raise Conflict("办件作出决定后才能上传结果文书。", code="case_not_decided")
        stored = store_file(upload=file, owner=case.applicant, name=file.name)
        document = CaseDocument.objects.create(case=case, kind=CaseDocument.Kind.RESULT, title=title.strip(), file=stored, client=client)
        audit_record(
            actor=None,
            action=API_DOCUMENT,
            object_type="case",
            object_id=str(case.public_id),
            after={"client": str(client.public_id), "client_name": client.name, "document": document.pk, "idempotency_key": key},
            reason=f"接入系统上传结果文书：{title.strip()[:100]}",
        )
    return Status(201, _document_out(case, document))
