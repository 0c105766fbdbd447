"""Written receipts (书面凭证, 行政许可法 §32): the acceptance notice (受理通知书) or the refusal
notice (不予受理通知书), generated as PDF when the case is accepted (or deemed accepted) or refused,
in the transaction of that step, and kept as a ``CaseDocument`` the applicant and the department's
staff can open. The box where the department's seal goes is left empty: the seals issue stamps it.

Chinese text uses reportlab's built-in CID font ``STSong-Light`` (Adobe's Song, shipped as metrics
only: no font file is embedded, PDF readers substitute their own Song typeface); codes and dates
are in Helvetica so that any reader extracts them exactly.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
import uuid
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.utils import timezone

from tongban.cases.models import Case, CaseDocument, CaseEvent, StoredFile
from tongban.common.audit import audit_record
from tongban.common.masking import mask_id_number, mask_name

CJK_FONT = "STSong-Light"
LATIN_FONT = "Helvetica"
RECEIPT_ACTIONS = {
    "accept": CaseDocument.Kind.ACCEPT_RECEIPT,
    "deem_accepted": CaseDocument.Kind.ACCEPT_RECEIPT,
    "refuse": CaseDocument.Kind.REFUSE_RECEIPT,
}
REMEDY = "如对本决定不服，可以自收到本通知书之日起六十日内依法申请行政复议，或者自收到本通知书之日起六个月内依法向人民法院提起行政诉讼。"
_registered: list[bool] = []


def _fonts() -> None:
    if not _registered:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
        _registered.append(True)


def _day(value: Any) -> str:
    return value.strftime("%Y-%m-%d") if value else "—"


def _lines(case: Case, event: CaseEvent, kind: str) -> tuple[str, list[tuple[str, str]], list[str]]:
    """(title, [(label, value)], paragraphs) of the receipt."""
    applicant = case.applicant
    department = case.department.name if case.department_id and case.department is not None else ""
    fields = [
        ("办件编号", case.code or "—"),
        ("申请事项", case.implementation.base.name),
        ("申请人", mask_name(applicant.display_name) or "—"),
        ("证件号码", mask_id_number(applicant.id_number or "") or "—"),
        ("申请时间", timezone.localtime(case.submitted_at).strftime("%Y-%m-%d %H:%M") if case.submitted_at else "—"),
        ("办理部门", department or "—"),
    ]
    lookup = f"{settings.PUBLIC_BASE_URL}/cases/lookup/"
    if kind == CaseDocument.Kind.ACCEPT_RECEIPT:
        fields += [
            ("受理日期", _day(case.accepted_on)),
            ("法定办结期限", f"{_day(case.due_legal)}（{case.legal_limit_days} 个工作日）" if case.due_legal else "—"),
            ("承诺办结期限", f"{_day(case.due_promised)}（{case.promised_limit_days} 个工作日）" if case.due_promised else "—"),
        ]
        deemed = event.action == "deem_accepted"
        paragraphs = [
            (
                "您提交的申请材料，本机关未在五个工作日内一次性告知需要补正的内容，依照《中华人民共和国行政许可法》"
                "第三十二条的规定，自收到申请材料之日起即为受理。"
                if deemed
                else "您提交的申请，申请材料齐全、符合法定形式，依照《中华人民共和国行政许可法》第三十二条的规定，本机关决定受理。"
            ),
            "法定办结期限不含依法需要听证、招标、拍卖、检验、检测、检疫、鉴定和专家评审的时间（第四十五条）。",
            f"查询办理进度：登录通办平台“我的办件”，或在 {lookup} 凭办件编号和查询密码查询。",
        ]
        return "受理通知书", fields, paragraphs
    paragraphs = [
        "您提交的申请，经审查，本机关决定不予受理。理由如下：",
        event.opinion or "—",
        REMEDY,
        f"查询办理记录：登录通办平台“我的办件”，或在 {lookup} 凭办件编号和查询密码查询。",
    ]
    return "不予受理通知书", fields, paragraphs


def _is_latin(text: str) -> bool:
    return all(ord(ch) < 128 for ch in text)


def receipt_pdf(case: Case, event: CaseEvent, kind: str) -> bytes:
    """The receipt as PDF bytes (A4, one page for any reasonable reason text)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    _fonts()
    title, fields, paragraphs = _lines(case, event, kind)
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    pdf.setTitle(f"{title} {case.code or ''}")
    pdf.setAuthor(case.department.name if case.department is not None else "通办")
    width, height = A4
    left, right = 25 * mm, width - 25 * mm
    y = height - 30 * mm
    pdf.setFont(CJK_FONT, 20)
    pdf.drawCentredString(width / 2, y, title)
    y -= 14 * mm
    for label, value in fields:
        pdf.setFont(CJK_FONT, 11)
        pdf.drawString(left, y, f"{label}：")
        pdf.setFont(LATIN_FONT if _is_latin(value) else CJK_FONT, 11)
        pdf.drawString(left + 28 * mm, y, value)
        y -= 7.5 * mm
    y -= 4 * mm
    pdf.setFont(CJK_FONT, 11)
    per_line = max(10, int((right - left) // stringWidth("中", CJK_FONT, 11)))
    for paragraph in paragraphs:
        for line in textwrap.wrap(paragraph, per_line) or [""]:
            if y < 70 * mm:
                pdf.showPage()
                pdf.setFont(CJK_FONT, 11)
                y = height - 25 * mm
            pdf.drawString(left, y, line)
            y -= 6.5 * mm
        y -= 2 * mm
    # The seal: the department's name and the date, with an empty box the seals issue stamps.
    box = 42 * mm
    x0, y0 = right - box, 25 * mm
    pdf.setDash(3, 3)
    pdf.rect(x0, y0, box, box, stroke=1, fill=0)
    pdf.setDash()
    pdf.setFont(CJK_FONT, 9)
    pdf.drawCentredString(x0 + box / 2, y0 + box / 2, "（印章位置）")
    pdf.setFont(CJK_FONT, 11)
    department = case.department.name if case.department is not None else ""
    pdf.drawRightString(x0 - 6 * mm, y0 + box / 2 + 4 * mm, department)
    pdf.drawRightString(x0 - 6 * mm, y0 + box / 2 - 4 * mm, timezone.localtime(event.at or timezone.now()).strftime("%Y年%m月%d日"))
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def receipt_generate(case: Case, event: CaseEvent) -> CaseDocument | None:
    """The written receipt of an accept, deemed-accept or refuse step: generated, stored and kept
    with the case in the caller's transaction. Other steps make nothing; a receipt of the same kind
    is made once."""
    kind = RECEIPT_ACTIONS.get(event.action)
    if kind is None:
        return None
    if CaseDocument.objects.filter(case=case, kind=kind).exists():
        return None
    content = receipt_pdf(case, event, kind)
    title = CaseDocument.Kind(kind).label
    stored = StoredFile(
        owner=None,
        name=f"{title}-{case.code or case.public_id}.pdf"[:200],
        content_type="application/pdf",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=event.actor,
    )
    stored.file.save(f"{uuid.uuid4().hex}.pdf", ContentFile(content), save=False)
    saved_as = str(stored.file.name)
    try:
        stored.save()
        document = CaseDocument.objects.create(case=case, kind=kind, title=title, file=stored, created_by=event.actor)
    except BaseException:
        stored.file.storage.delete(saved_as)
        raise
    audit_record(
        actor=event.actor,
        action="case.document",
        object_type="case",
        object_id=str(case.public_id),
        after={"kind": kind, "file": str(stored.public_id)},
    )
    return document


def documents_of(case: Case) -> list[CaseDocument]:
    return list(CaseDocument.objects.filter(case=case).select_related("file").order_by("id"))
