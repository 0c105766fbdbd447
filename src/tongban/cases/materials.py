"""Case materials (申请材料): files checked and stored through Django's storage API, attached to a
case against the item's material list, reused from the applicant's material library (材料库), and
the slots an electronic licence will fill (免提交).

Files (QUALITY.md, uploads): at most ``MATERIAL_MAX_BYTES`` each (reading stops one byte past the
limit), the type is sniffed from the content (``filetype``) and must be one of ``MATERIAL_TYPES``;
names are never trusted: the stored object gets a random name, the kept display name loses any
path and control characters.

Names and content: a name whose extension is not an accepted type (``.exe``, ``.html``, ``.zip``…)
is refused, whatever the content; content that is not an accepted type is refused, whatever the
name (an HTML page or a ZIP named ``.pdf``). When both are accepted types but disagree (a real PNG
named ``.jpg``, as phones often do) the file is kept under its true extension (``photo.png``): the
content decides, and nothing the name claimed survives.

Who may do what: the applicant adds and removes materials while the case is theirs to edit (draft,
待补正, 补齐补正); a clerk whose departments cover the case adds window scans (and records paper
received); files open only to their owner, the applicant of a case using them, and staff whose
scope covers that case (``file_for``). Anyone else gets what an unknown id gets."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import re
import tempfile
import unicodedata
import uuid
from typing import IO, Any

import filetype
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Q

from tongban.cases import machine
from tongban.cases.models import Case, CaseDocument, CaseEvent, CaseMaterial, StoredFile
from tongban.catalog.models import Material
from tongban.common.audit import audit_record
from tongban.common.errors import Conflict, NotFound, ValidationFailed
from tongban.identity import access

# The accepted types as people name them, with the content type served for each.
TYPE_NAMES = {"pdf": "PDF", "jpg": "JPG 图片", "png": "PNG 图片"}
CONTENT_TYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png"}
EXTENSION_ALIASES = {"jpeg": "jpg", "jpe": "jpg"}
SNIFF_BYTES = 8192
CHUNK = 64 * 1024
NAME_MAX = 120
# States in which the applicant may change the case's materials.
APPLICANT_EDITABLE = frozenset({machine.State.DRAFT, machine.State.CORRECTING, machine.State.SUPPLEMENTING})
# States in which a clerk may still add a window scan or record paper received.
STAFF_EDITABLE = frozenset(
    {
        machine.State.DRAFT,
        machine.State.SUBMITTED,
        machine.State.CORRECTING,
        machine.State.ACCEPTED,
        machine.State.SUPPLEMENTING,
        machine.State.SUSPENDED,
    }
)
APPLICANT_SOURCES = frozenset({CaseMaterial.Source.UPLOAD, CaseMaterial.Source.LIBRARY})
STAFF_SOURCES = frozenset({CaseMaterial.Source.WINDOW_SCAN, CaseMaterial.Source.PAPER})
SUBMITTING_ACTIONS = ("submit", "resubmit", "supplemented")
LICENCE_MARKER = "将从电子证照自动获取"
PAPER_MARKER = "窗口提交纸质材料"


def accepted_types() -> list[str]:
    """The accepted extensions (``MATERIAL_TYPES``), those the platform knows how to sniff."""
    return [t for t in (str(x).lower().lstrip(".") for x in settings.MATERIAL_TYPES) if t in CONTENT_TYPES]


def limits_text() -> str:
    """The rules in plain Chinese, for pages and error messages."""
    kinds = "、".join(TYPE_NAMES[t] for t in accepted_types())
    return (
        f"支持 {kinds} 格式，每个文件不超过 {size_text(settings.MATERIAL_MAX_BYTES)}；"
        f"每项材料最多 {settings.MATERIAL_MAX_FILES_PER_MATERIAL} 个文件，整份申请最多 {settings.MATERIAL_MAX_FILES_PER_CASE} 个文件。"
    )


def size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.0f} MB" if size % (1024 * 1024) == 0 else f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, size // 1024)} KB"


# --- storing a file -------------------------------------------------------------------------------------


def clean_name(raw: str | None) -> str:
    """The display name: no directories (either slash), no control or format characters, bounded."""
    name = str(raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip().strip(".")
    if len(name) > NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem[: NAME_MAX - len(ext) - 1]}.{ext}" if dot and 0 < len(ext) <= 10 else name[:NAME_MAX]
    return name


def _split(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return name, ""
    ext = ext.lower()
    return stem, EXTENSION_ALIASES.get(ext, ext)


def _read_limited(upload: Any, limit: int) -> tuple[IO[bytes], int, str, bytes]:
    """Copy the upload to a spooled temporary file, stopping as soon as it passes ``limit``.
    Returns (the copy, its size, its sha256, its first bytes)."""
    declared = getattr(upload, "size", None)
    if isinstance(declared, int) and declared > limit:
        raise _too_large()
    if hasattr(upload, "seek"):
        try:
            upload.seek(0)
        except (OSError, ValueError):
            pass
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)
    digest = hashlib.sha256()
    size = 0
    head = b""
    chunks = upload.chunks(CHUNK) if hasattr(upload, "chunks") else iter(lambda: upload.read(CHUNK), b"")
    try:
        for chunk in chunks:
            if isinstance(chunk, str):
                chunk = chunk.encode()
            size += len(chunk)
            if size > limit:
                raise _too_large()
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
            digest.update(chunk)
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, size, digest.hexdigest(), head


def too_large_text() -> str:
    return f"文件超过 {size_text(settings.MATERIAL_MAX_BYTES)}，请压缩或分成几个文件后重新上传。"


def _too_large() -> ValidationFailed:
    return ValidationFailed(
        too_large_text(),
        code="file_too_large",
        details={"max_bytes": settings.MATERIAL_MAX_BYTES},
    )


def _wrong_type(detail: str) -> ValidationFailed:
    kinds = "、".join(TYPE_NAMES[t] for t in accepted_types())
    return ValidationFailed(f"{detail}请上传 {kinds} 格式的文件。", code="file_type", details={"accepted": accepted_types()})


def store_file(*, upload: Any, owner: Any, uploaded_by: Any = None, in_library: bool = False, name: str | None = None) -> StoredFile:
    """Check and store one file (see the module's docstring for the rules). ``upload`` is a Django
    ``UploadedFile`` or any ``File`` (``ContentFile`` too); ``name`` overrides its name."""
    accepted = accepted_types()
    display = clean_name(name if name is not None else getattr(upload, "name", ""))
    stem, claimed = _split(display)
    if claimed and claimed not in accepted:
        raise _wrong_type(f"不支持 .{claimed} 文件。")
    spool, size, sha256, head = _read_limited(upload, int(settings.MATERIAL_MAX_BYTES))
    try:
        if size == 0:
            raise ValidationFailed("文件是空的（0 字节），请检查后重新选择文件。", code="file_empty")
        kind = filetype.guess(head)
        actual = EXTENSION_ALIASES.get(kind.extension, kind.extension) if kind is not None else ""
        if actual not in accepted:
            raise _wrong_type("文件内容不是可接受的格式（可能是改了扩展名的其他文件）。")
        # The content decides: a PNG named .jpg is kept as .png; a name without extension gets one.
        display = f"{stem or '材料'}.{actual}" if claimed else f"{display or '材料'}.{actual}"
        stored = StoredFile(
            owner=owner if getattr(owner, "pk", None) else None,
            name=display[:200],
            content_type=CONTENT_TYPES[actual],
            size=size,
            sha256=sha256,
            in_library=bool(in_library),
            uploaded_by=uploaded_by if getattr(uploaded_by, "pk", None) else None,
        )
        stored.file.save(f"{uuid.uuid4().hex}.{actual}", File(spool), save=False)
    finally:
        spool.close()
    try:
        stored.save()
    except BaseException:
        stored.file.storage.delete(str(stored.file.name))
        raise
    return stored


def _discard(stored: StoredFile) -> None:
    """Delete a file no case or document uses (its row and its stored object)."""
    if CaseMaterial.objects.filter(file=stored).exists() or CaseDocument.objects.filter(file=stored).exists():
        return
    name = stored.file.name
    storage = stored.file.storage
    stored.delete()
    if name:
        transaction.on_commit(lambda: storage.delete(name))


# --- the material list of a case ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MaterialSlot:
    """One material of the item's list as it stands on a case."""

    material: Material
    id: int
    name: str
    need: str  # required / conditional / optional (catalog.codes.MATERIAL_NEED)
    need_label: str
    form: str  # paper / electronic / both (catalog.codes.MATERIAL_FORMS)
    required: bool  # needed for online submission (required, not paper-only, no licence slot)
    paper_only: bool  # 窗口提交纸质材料: nothing to upload
    licence: bool  # 将从电子证照自动获取: no upload needed
    licence_type: str
    notes: str
    files: list[CaseMaterial]  # the attached files, oldest first
    paper: list[CaseMaterial]  # paper received at the window
    licence_record: CaseMaterial | None

    @property
    def missing(self) -> bool:
        return self.required and not self.files

    @property
    def marker(self) -> str:
        return LICENCE_MARKER if self.licence else PAPER_MARKER if self.paper_only else ""


def _item_materials(implementation_id: int) -> list[Material]:
    return list(Material.objects.filter(item__implementations__pk=implementation_id).order_by("sort", "id"))


def _required(m: Material) -> bool:
    return m.need == "required" and m.form in ("electronic", "both") and not m.license_type


def material_slots(case: Case) -> list[MaterialSlot]:
    """The case's item material list, each with its files and its markers, in the list's order."""
    return material_slots_for(case.implementation_id, case)


def material_slots_for(implementation_id: int, case: Case | None) -> list[MaterialSlot]:
    """``material_slots`` of a case, or of an application not saved yet (``case`` None: no files)."""
    from tongban.catalog import codes

    attached: dict[int | None, list[CaseMaterial]] = {}
    rows = CaseMaterial.objects.filter(case=case).select_related("file").order_by("id") if case is not None else []
    for cm in rows:
        attached.setdefault(cm.material_id, []).append(cm)
    slots = []
    for m in _item_materials(implementation_id):
        rows = attached.get(m.pk, [])
        licence_rows = [r for r in rows if r.source == CaseMaterial.Source.LICENCE]
        slots.append(
            MaterialSlot(
                material=m,
                id=m.pk,
                name=m.name,
                need=m.need,
                need_label=codes.MATERIAL_NEED.get(m.need, m.need),
                form=m.form,
                required=_required(m),
                paper_only=m.form == "paper",
                licence=bool(m.license_type),
                licence_type=m.license_type,
                notes=m.notes,
                files=[r for r in rows if r.file_id is not None],
                paper=[r for r in rows if r.source == CaseMaterial.Source.PAPER],
                licence_record=licence_rows[0] if licence_rows else None,
            )
        )
    return slots


def materials_missing(case: Case) -> list[str]:
    """Names of the required electronic (or either-form) materials with no file and no licence slot."""
    have = set(CaseMaterial.objects.filter(case=case, file__isnull=False).values_list("material_id", flat=True))
    return [m.name for m in _item_materials(case.implementation_id) if _required(m) and m.pk not in have]


def materials_missing_for(implementation_id: int, case: Case | None) -> list[str]:
    """``materials_missing`` before a case exists (nothing attached yet) or for a case."""
    if case is not None:
        return materials_missing(case)
    return [m.name for m in _item_materials(implementation_id) if _required(m)]


def missing_text(names: list[str]) -> str:
    """The field error for missing materials, naming each."""
    return f"请上传以下必要材料后再提交：{'、'.join(names)}。"


def licence_slots_record(case: Case) -> list[CaseMaterial]:
    """Record the licence slots of the case (source licence, the licence type), once each: the
    licence issue fills ``licence_ref`` later. Idempotent."""
    have = set(CaseMaterial.objects.filter(case=case, source=CaseMaterial.Source.LICENCE).values_list("material_id", flat=True))
    made = []
    for m in _item_materials(case.implementation_id):
        if m.license_type and m.pk not in have:
            made.append(
                CaseMaterial.objects.create(
                    case=case,
                    material=m,
                    name=m.name,
                    source=CaseMaterial.Source.LICENCE,
                    licence_type=m.license_type,
                    submission_round=case.submission_round,
                )
            )
    return made


# --- attaching and removing -----------------------------------------------------------------------------


def _editable(actor: Any, case: Case, source: str) -> None:
    """Raise unless ``actor`` may change this case's materials with ``source`` now."""
    if source in APPLICANT_SOURCES:
        if not getattr(actor, "pk", None) or case.applicant_id != actor.pk:
            raise NotFound("没有找到这份申请。", code="case_unknown")
        if case.state not in APPLICANT_EDITABLE:
            raise Conflict(f"当前状态（{machine.LABELS[machine.State(case.state)]}）下不能修改申请材料。", code="case_not_editable")
    elif source in STAFF_SOURCES:
        if not access.staff_may(actor, None, case.department_id):
            raise NotFound("没有找到这个办件。", code="case_unknown")
        if case.state not in STAFF_EDITABLE:
            raise Conflict(f"当前状态（{machine.LABELS[machine.State(case.state)]}）下不能再补充材料。", code="case_not_editable")
    else:
        raise ValidationFailed("不支持这种材料来源。", code="source_unknown")


def _counts(case: Case, material_id: int) -> None:
    files = CaseMaterial.objects.filter(case=case, file__isnull=False)
    per_material = int(settings.MATERIAL_MAX_FILES_PER_MATERIAL)
    per_case = int(settings.MATERIAL_MAX_FILES_PER_CASE)
    if files.filter(material_id=material_id).count() >= per_material:
        raise ValidationFailed(
            f"这项材料最多上传 {per_material} 个文件，请先删除不需要的文件。",
            code="too_many_files",
            details={"limit": per_material, "scope": "material"},
        )
    if files.count() >= per_case:
        raise ValidationFailed(
            f"一份申请最多上传 {per_case} 个文件，请先删除不需要的文件。",
            code="too_many_files",
            details={"limit": per_case, "scope": "case"},
        )


def _material_of(case: Case, material_id: Any) -> Material:
    try:
        key = int(material_id)
    except (TypeError, ValueError):
        key = 0
    material = Material.objects.filter(pk=key, item__implementations__pk=case.implementation_id).first()
    if material is None:
        raise ValidationFailed("这项材料不在本事项的材料清单中。", code="material_unknown")
    return material


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def material_attach(
    *,
    actor: Any,
    case: Case,
    material_id: int | str,
    upload: Any = None,
    library_file_id: str | None = None,
    source: str = "upload",
    in_library: bool = False,
) -> CaseMaterial:
    """Attach a file to one material of the case: a new upload (kept in the applicant's library
    when ``in_library``), a file of the actor's own library (``library_file_id``, source library),
    a clerk's window scan (source window_scan), or paper received at the window (source paper,
    no file). Count limits hold under concurrency: the case row is locked while counting."""
    if library_file_id is not None:
        source = CaseMaterial.Source.LIBRARY
    _editable(actor, case, source)  # early, before storing anything
    material = _material_of(case, material_id)
    if material.form == "paper" and source in APPLICANT_SOURCES:
        raise ValidationFailed(f"“{material.name}”只收纸质材料，请到窗口提交，无需上传。", code="material_paper_only")
    stored: StoredFile | None = None
    made_here = False
    if source == CaseMaterial.Source.LIBRARY:
        key = _uuid(library_file_id)
        stored = StoredFile.objects.filter(public_id=key, owner=actor, in_library=True).first() if key else None
        if stored is None:
            raise NotFound("没有在您的材料库中找到这个文件。", code="file_unknown")
    elif source != CaseMaterial.Source.PAPER:
        if upload is None:
            raise ValidationFailed("请选择要上传的文件。", code="file_empty")
        _counts(case, material.pk)  # refuse early, before storing (checked again under the lock)
        owner = case.applicant
        keep = bool(in_library) and source == CaseMaterial.Source.UPLOAD
        stored = store_file(upload=upload, owner=owner, uploaded_by=actor, in_library=keep)
        made_here = True
    try:
        with transaction.atomic():
            locked = Case.objects.select_for_update().get(pk=case.pk)
            _editable(actor, locked, source)
            if stored is not None:
                _counts(locked, material.pk)
            row = CaseMaterial.objects.create(
                case=locked,
                material=material,
                name=material.name,
                source=source,
                file=stored,
                submission_round=locked.submission_round,
            )
            audit_record(
                actor=actor,
                action="case.material_attach",
                object_type="case",
                object_id=str(locked.public_id),
                after={
                    "material": material.name,
                    "source": source,
                    "file": str(stored.public_id) if stored else "",
                    "sha256": stored.sha256 if stored else "",
                },
            )
    except BaseException:
        if made_here and stored is not None:
            # Best effort: never hide the refusal behind a failed clean-up (a broken outer transaction).
            with contextlib.suppress(Exception), transaction.atomic():
                _discard(stored)
        raise
    case.state = locked.state
    case.submission_round = locked.submission_round
    return row


def _last_submitted(case: Case) -> Any:
    return CaseEvent.objects.filter(case=case, action__in=SUBMITTING_ACTIONS).order_by("-at", "-id").values_list("at", flat=True).first()


def material_remove(*, actor: Any, case: Case, case_material_id: str) -> None:
    """Remove one of the applicant's attachments while the case is theirs to edit. What was already
    submitted stays on the record: only what was added since the last submission can go."""
    key = _uuid(case_material_id)
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        _editable(actor, locked, CaseMaterial.Source.UPLOAD)
        row = (
            CaseMaterial.objects.select_related("file").filter(public_id=key, case=locked, source__in=APPLICANT_SOURCES).first()
            if key
            else None
        )
        if row is None:
            raise NotFound("没有找到这个文件。", code="file_unknown")
        since = _last_submitted(locked)
        if locked.state != machine.State.DRAFT and since is not None and row.created_at <= since:
            raise Conflict("已提交过的材料不能删除；如需更正，请上传新的文件。", code="material_submitted")
        stored = row.file
        row.delete()
        audit_record(
            actor=actor,
            action="case.material_remove",
            object_type="case",
            object_id=str(locked.public_id),
            before={"material": row.name, "file": str(stored.public_id) if stored else ""},
        )
        if stored is not None and not stored.in_library:
            _discard(stored)


# --- the material library -------------------------------------------------------------------------------


def library_of(account: Any) -> list[StoredFile]:
    """材料库: the files the account keeps for reuse, newest first."""
    if not getattr(account, "pk", None):
        return []
    return list(StoredFile.objects.filter(owner=account, in_library=True).order_by("-id")[:200])


def library_remove(*, account: Any, file_public_id: str) -> None:
    """Take a file out of the library. Files a case uses stay with that case (its record); others
    are deleted."""
    key = _uuid(file_public_id)
    with transaction.atomic():
        stored = StoredFile.objects.select_for_update().filter(public_id=key, owner=account, in_library=True).first() if key else None
        if stored is None or not getattr(account, "pk", None):
            raise NotFound("没有在您的材料库中找到这个文件。", code="file_unknown")
        stored.in_library = False
        stored.save(update_fields=["in_library"])
        audit_record(actor=account, action="file.library_remove", object_type="file", object_id=str(stored.public_id))
        _discard(stored)


# --- who may open a file --------------------------------------------------------------------------------


def file_for(account: Any, file_public_id: str) -> StoredFile | None:
    """The file if ``account`` may open it: its owner, the applicant of a case using it (as a
    material or a document), or staff whose departments cover such a case (not a draft, unless they
    took it in at the window). Anyone else: None, as for an unknown id."""
    key = _uuid(file_public_id)
    if key is None or not getattr(account, "is_authenticated", False) or not getattr(account, "pk", None):
        return None
    stored = StoredFile.objects.filter(public_id=key).first()
    if stored is None:
        return None
    if stored.owner_id == account.pk:
        return stored
    using = Case.objects.filter(Q(materials__file=stored) | Q(documents__file=stored))
    if using.filter(applicant=account).exists():
        return stored
    staff_cases = using.exclude(Q(state=machine.State.DRAFT) & ~Q(intake_by=account))
    if access.scope(staff_cases, account, field="department").exists():
        return stored
    return None


def corrections_outstanding(case: Case) -> list[str]:
    """Materials named in the case's current correction notice that still lack a file uploaded
    since the notice. Only where the application was made with uploaded files: a case whose
    materials came on paper or from licences is corrected at the window or by the department."""
    from tongban.cases.models import CorrectionNotice

    notice = CorrectionNotice.objects.filter(case=case, submission_round=case.submission_round).first()
    if notice is None:
        return []
    slots = {s.name: s for s in material_slots(case)}
    if not any(s.files for s in slots.values()):
        return []
    outstanding = []
    for problem in notice.problems:
        slot = slots.get(problem.get("material", ""))
        if slot is None or slot.paper_only:
            continue
        if not any(f.created_at > notice.issued_at for f in slot.files):
            outstanding.append(slot.name)
    return outstanding
