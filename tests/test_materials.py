"""Case materials (申请材料) against the real database and storage: the upload limits and content
sniffing, the material library, licence slots, submission refused while a required material is
missing, the materials step of the online application, and who may open a stored file."""

from __future__ import annotations

import hashlib
import io
import re
import threading
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from PIL import Image

from tests.conftest import STAFF_PASSWORD
from tests.factories import impl_of, published_item
from tests.staff_support import console_sign_in
from tests.test_enterprises import signed_in_client
from tongban.cases import forms
from tongban.cases import materials as mat
from tongban.cases import services as cases
from tongban.cases.models import Case, CaseDocument, CaseMaterial, StoredFile
from tongban.common.errors import Conflict, NotFound, ValidationFailed

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


def _image(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, kind)
    return out.getvalue()


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


@pytest.fixture
def item(mini):
    """居住证申领 at 东湖区公安局: an identity card a licence fills, a required electronic
    material, an optional one, and a paper-only original."""
    return published_item(
        "070100009000",
        "居住证申领",
        [mini.police_donghu],
        materials=[
            {"name": "居民身份证", "source": "shared", "license_type": "居民身份证"},
            {"name": "居住证明", "form": "electronic"},
            {"name": "近期免冠照片", "need": "optional"},
            {"name": "申请表原件", "form": "paper"},
        ],
    )


@pytest.fixture
def implementation(mini, templates, item):
    impl = impl_of(item, mini.police_donghu)
    forms.application_form_save(
        actor=None,
        implementation=impl,
        schema={"type": "object", "properties": {"address": {"type": "string", "title": "居住地址"}}, "required": ["address"]},
        layout={},
    )
    return impl


@pytest.fixture(autouse=True)
def _small_limits(settings):
    settings.MATERIAL_MAX_BYTES = 4096
    settings.MATERIAL_MAX_FILES_PER_MATERIAL = 2
    settings.MATERIAL_MAX_FILES_PER_CASE = 3


def _slot(implementation, name: str) -> int:
    return implementation.base.materials.get(name=name).pk


def _draft(citizen, implementation) -> Case:
    return cases.case_draft(applicant=citizen, implementation=implementation, form_data={"address": "东湖区阳明路 1 号"})


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.code


def _objects(folder: str = "files") -> set[str]:
    """Every object kept in the default storage under ``folder`` (the storage outlives a test)."""
    if not default_storage.exists(folder):
        return set()
    dirs, names = default_storage.listdir(folder)
    return {f"{folder}/{n}" for n in names} | {o for d in dirs for o in _objects(f"{folder}/{d}")}


# --- storing a file ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_file_is_stored_through_the_storage_api_with_its_hash_and_a_clean_name(citizen):
    stored = mat.store_file(upload=ContentFile(PDF, name="../../etc/居住\x00证明\u202e.pdf"), owner=citizen)
    assert stored.name == "居住证明.pdf" and stored.content_type == "application/pdf" and stored.size == len(PDF)
    assert stored.sha256 == hashlib.sha256(PDF).hexdigest() and stored.owner == citizen and not stored.in_library
    assert default_storage.exists(stored.file.name) and stored.file.name.startswith("files/")
    assert "居住" not in stored.file.name and ".." not in stored.file.name  # a random object name
    with default_storage.open(stored.file.name, "rb") as kept:
        assert hashlib.sha256(kept.read()).hexdigest() == stored.sha256


@pytest.mark.django_db
def test_oversized_and_empty_files_are_refused_and_nothing_is_kept(citizen, settings):
    before = _objects()
    with pytest.raises(ValidationFailed) as caught:
        mat.store_file(upload=ContentFile(PDF + b"0" * 4096, name="big.pdf"), owner=citizen)
    assert _code(caught) == "file_too_large" and "4 KB" in caught.value.message
    with pytest.raises(ValidationFailed) as caught:
        mat.store_file(upload=ContentFile(b"", name="empty.pdf"), owner=citizen)
    assert _code(caught) == "file_empty"
    assert not StoredFile.objects.exists()
    assert _objects() == before


class _Endless:
    """A file that says it is small and never ends: reading must stop past the limit."""

    name = "endless.pdf"
    size = 10

    def __init__(self) -> None:
        self.given = 0

    def chunks(self, chunk_size: int = 65536):
        while True:
            self.given += 1024
            yield (PDF if self.given == 1024 else b"") + b"0" * (1024 - (len(PDF) if self.given == 1024 else 0))


@pytest.mark.django_db
def test_reading_stops_just_past_the_limit_whatever_the_size_claims(citizen):
    endless = _Endless()
    with pytest.raises(ValidationFailed) as caught:
        mat.store_file(upload=endless, owner=citizen)
    assert _code(caught) == "file_too_large" and endless.given == 5 * 1024


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "name"),
    [(HTML, "居住证明.pdf"), (_zip(), "居住证明.pdf"), (b"MZ\x90\x00" + b"\0" * 60, "photo.png"), (PDF, "setup.exe"), (PDF, "page.html")],
)
def test_a_type_disguised_by_its_name_is_refused(citizen, content, name):
    with pytest.raises(ValidationFailed) as caught:
        mat.store_file(upload=ContentFile(content, name=name), owner=citizen)
    assert _code(caught) == "file_type" and "PDF" in caught.value.message
    assert not StoredFile.objects.exists()


@pytest.mark.django_db
def test_the_content_decides_between_accepted_types(citizen):
    png = mat.store_file(upload=ContentFile(_image("PNG"), name="照片.jpg"), owner=citizen)
    assert png.name == "照片.png" and png.content_type == "image/png" and png.file.name.endswith(".png")
    jpg = mat.store_file(upload=ContentFile(_image("JPEG"), name="scan.JPEG"), owner=citizen)
    assert jpg.name == "scan.jpg" and jpg.content_type == "image/jpeg"
    bare = mat.store_file(upload=ContentFile(PDF, name="居住证明"), owner=citizen)
    assert bare.name == "居住证明.pdf"


# --- attaching: limits, access, the library ---------------------------------------------------------------


@pytest.mark.django_db
def test_too_many_files_per_material_and_per_case(citizen, implementation):
    case = _draft(citizen, implementation)
    proof, photo = _slot(implementation, "居住证明"), _slot(implementation, "近期免冠照片")
    for i in range(2):
        mat.material_attach(actor=citizen, case=case, material_id=proof, upload=ContentFile(PDF, name=f"p{i}.pdf"))
    with pytest.raises(ValidationFailed) as caught:
        mat.material_attach(actor=citizen, case=case, material_id=proof, upload=ContentFile(PDF, name="p3.pdf"))
    assert _code(caught) == "too_many_files" and "最多上传 2 个" in caught.value.message
    mat.material_attach(actor=citizen, case=case, material_id=photo, upload=ContentFile(_image("PNG"), name="a.png"))
    with pytest.raises(ValidationFailed) as caught:
        mat.material_attach(actor=citizen, case=case, material_id=photo, upload=ContentFile(_image("PNG"), name="b.png"))
    assert _code(caught) == "too_many_files" and caught.value.details["scope"] == "case"
    assert CaseMaterial.objects.filter(case=case).count() == 3 == StoredFile.objects.count()


@pytest.mark.django_db(transaction=True)
def test_two_attaches_at_once_at_the_limit_one_wins(citizen, implementation, settings):
    settings.MATERIAL_MAX_FILES_PER_MATERIAL = 1
    case = _draft(citizen, implementation)
    proof = _slot(implementation, "居住证明")
    before = _objects()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attach(n: int) -> None:
        try:
            barrier.wait()
            for _ in range(20):  # SQLite answers "database is locked" to a writer that waits too long
                try:
                    mat.material_attach(actor=citizen, case=case, material_id=proof, upload=ContentFile(PDF, name=f"{n}.pdf"))
                    outcomes.append("ok")
                    break
                except ValidationFailed as exc:
                    outcomes.append(exc.code)
                    break
                except Exception as exc:
                    if "locked" not in str(exc):
                        raise
        finally:
            connection.close()

    threads = [threading.Thread(target=attach, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["ok", "too_many_files"]
    assert CaseMaterial.objects.filter(case=case, material_id=proof).count() == 1
    assert StoredFile.objects.count() == 1  # the loser's file is not left behind, in the database or the storage
    assert _objects() - before == {StoredFile.objects.get().file.name}


@pytest.mark.django_db
def test_only_the_applicant_edits_and_only_while_the_case_is_theirs(citizen, other_citizen, clerk, stranger, implementation):
    case = _draft(citizen, implementation)
    proof = _slot(implementation, "居住证明")
    with pytest.raises(NotFound):
        mat.material_attach(actor=other_citizen, case=case, material_id=proof, upload=ContentFile(PDF, name="x.pdf"))
    with pytest.raises(NotFound):
        mat.material_attach(actor=clerk, case=case, material_id=proof, upload=ContentFile(PDF, name="x.pdf"))  # staff: no uploads
    paper = _slot(implementation, "申请表原件")
    with pytest.raises(ValidationFailed) as caught:
        mat.material_attach(actor=citizen, case=case, material_id=paper, upload=ContentFile(PDF, name="x.pdf"))
    assert _code(caught) == "material_paper_only"
    other_item_material = implementation.base.materials.model.objects.exclude(item=implementation.base).first()
    with pytest.raises(ValidationFailed) as caught:
        mat.material_attach(actor=citizen, case=case, material_id=other_item_material.pk, upload=ContentFile(PDF, name="x.pdf"))
    assert _code(caught) == "material_unknown"
    row = mat.material_attach(actor=citizen, case=case, material_id=proof, upload=ContentFile(PDF, name="居住证明.pdf"))
    with pytest.raises(NotFound):
        mat.material_remove(actor=other_citizen, case=case, case_material_id=str(row.public_id))
    case = cases.case_submit(applicant=citizen, case_id=str(case.public_id))
    with pytest.raises(Conflict) as caught:
        mat.material_attach(actor=citizen, case=case, material_id=proof, upload=ContentFile(PDF, name="late.pdf"))
    assert _code(caught) == "case_not_editable"
    with pytest.raises(Conflict):
        mat.material_remove(actor=citizen, case=case, case_material_id=str(row.public_id))
    # the window: a clerk of the case's department scans, one of another department cannot
    with pytest.raises(NotFound):
        mat.material_attach(actor=stranger, case=case, material_id=proof, upload=ContentFile(PDF, name="s.pdf"), source="window_scan")
    scan = mat.material_attach(actor=clerk, case=case, material_id=proof, upload=ContentFile(PDF, name="扫描件.pdf"), source="window_scan")
    assert scan.source == "window_scan" and scan.file.owner == citizen and scan.file.uploaded_by == clerk
    assert scan.submission_round == 1 and row.submission_round == 0
    assert CaseMaterial.objects.filter(case=case).count() == 2


@pytest.mark.django_db
def test_removing_a_draft_file_deletes_it_unless_it_is_in_the_library(citizen, implementation):
    case = _draft(citizen, implementation)
    proof = _slot(implementation, "居住证明")
    row = mat.material_attach(actor=citizen, case=case, material_id=proof, upload=ContentFile(PDF, name="a.pdf"))
    kept = mat.material_attach(actor=citizen, case=case, material_id=proof, upload=ContentFile(PDF, name="b.pdf"), in_library=True)
    mat.material_remove(actor=citizen, case=case, case_material_id=str(row.public_id))
    mat.material_remove(actor=citizen, case=case, case_material_id=str(kept.public_id))
    assert not CaseMaterial.objects.filter(case=case).exists()
    assert list(StoredFile.objects.values_list("name", flat=True)) == ["b.pdf"]
    assert [f.name for f in mat.library_of(citizen)] == ["b.pdf"]


@pytest.mark.django_db
def test_library_reuse_of_ones_own_files_only(citizen, other_citizen, implementation):
    mine = mat.store_file(upload=ContentFile(PDF, name="我的居住证明.pdf"), owner=citizen, in_library=True)
    theirs = mat.store_file(upload=ContentFile(PDF, name="李红的.pdf"), owner=other_citizen, in_library=True)
    not_kept = mat.store_file(upload=ContentFile(PDF, name="临时.pdf"), owner=citizen)
    assert [f.name for f in mat.library_of(citizen)] == ["我的居住证明.pdf"]
    case = _draft(citizen, implementation)
    proof = _slot(implementation, "居住证明")
    for foreign in (theirs, not_kept):
        with pytest.raises(NotFound) as caught:
            mat.material_attach(actor=citizen, case=case, material_id=proof, library_file_id=str(foreign.public_id))
        assert _code(caught) == "file_unknown"
    row = mat.material_attach(actor=citizen, case=case, material_id=proof, library_file_id=str(mine.public_id))
    assert row.source == "library" and row.file == mine and StoredFile.objects.count() == 3  # reused, not copied
    with pytest.raises(NotFound):
        mat.library_remove(account=other_citizen, file_public_id=str(mine.public_id))
    mat.library_remove(account=citizen, file_public_id=str(mine.public_id))
    mine.refresh_from_db()
    assert not mine.in_library and default_storage.exists(mine.file.name)  # the case keeps it
    assert mat.library_of(citizen) == []


# --- the material list, licence slots, submission ----------------------------------------------------------


@pytest.mark.django_db
def test_slots_mark_licences_and_paper_and_submission_waits_for_required_materials(verified_citizen, implementation):
    citizen = verified_citizen
    token = str(_draft(citizen, implementation).public_id)
    case = Case.objects.get(public_id=token)
    slots = {s.name: s for s in mat.material_slots(case)}
    assert list(slots) == ["居民身份证", "居住证明", "近期免冠照片", "申请表原件"]
    assert slots["居民身份证"].licence and not slots["居民身份证"].required and slots["居民身份证"].marker == "将从电子证照自动获取"
    assert slots["申请表原件"].paper_only and slots["申请表原件"].marker == "窗口提交纸质材料" and not slots["申请表原件"].required
    assert slots["居住证明"].required and slots["居住证明"].missing and not slots["近期免冠照片"].required
    assert mat.materials_missing(case) == ["居住证明"]
    apply = {"applicant": citizen, "implementation": implementation, "data": {"address": "阳明路 1 号"}, "query_password": "cx2026ab"}
    with pytest.raises(ValidationFailed) as caught:
        forms.case_apply(**apply, token=token)
    assert caught.value.details["fields"]["materials"] == "请上传以下必要材料后再提交：居住证明。"
    case.refresh_from_db()
    assert case.state == "draft" and not case.code
    mat.material_attach(actor=citizen, case=case, material_id=_slot(implementation, "居住证明"), upload=ContentFile(PDF, name="证明.pdf"))
    assert mat.materials_missing(case) == []
    case = forms.case_apply(**apply, token=token)
    assert case.state == "submitted" and len(case.code) == 43
    licence = CaseMaterial.objects.get(case=case, source="licence")
    assert licence.licence_type == "居民身份证" and licence.name == "居民身份证" and licence.file is None and licence.submission_round == 1
    slots = {s.name: s for s in mat.material_slots(case)}
    assert slots["居民身份证"].licence_record == licence and not slots["居民身份证"].files


@pytest.fixture
def verified_citizen(citizen):
    citizen.real_name_level = 2
    citizen.save(update_fields=["real_name_level"])
    return citizen


# --- the materials step of the online application ------------------------------------------------------


def _token(client: Client, implementation) -> str:
    page = client.get(f"/apply/{implementation.code}/")
    return re.search(r'name="token" value="([^"]+)"', page.content.decode()).group(1)


@pytest.mark.django_db
def test_the_materials_step_uploads_reuses_removes_and_submits_without_javascript(verified_citizen, implementation):
    browser = signed_in_client(verified_citizen)
    url = f"/apply/{implementation.code}/"
    token = _token(browser, implementation)
    page = browser.post(url, {"token": token, "step": "0", "go": "next", "address": "阳明路 1 号"})
    html = page.content.decode()
    assert page.status_code == 200 and "第 2 步，共 2 步" in html and 'enctype="multipart/form-data"' in html
    assert "将从电子证照自动获取" in html and "窗口提交纸质材料" in html and "还未上传（必须上传）" in html
    assert "支持 PDF、JPG 图片、PNG 图片 格式，每个文件不超过 4 KB" in html
    refused = browser.post(url, {"token": token, "step": "1", "go": "submit", "address": "阳明路 1 号", "query_password": "cx2026ab"})
    assert refused.status_code == 422 and "请上传以下必要材料后再提交：居住证明。" in refused.content.decode()
    proof, photo = _slot(implementation, "居住证明"), _slot(implementation, "近期免冠照片")
    files = {
        f"file-{proof}": SimpleUploadedFile("居住证明.pdf", PDF),
        f"file-{photo}": SimpleUploadedFile("照片.png", _image("PNG")),
        "keep": "1",
    }
    done = browser.post(url, {"token": token, "step": "1", "go": "upload", "address": "阳明路 1 号", **files})
    assert done.status_code == 302 and done["Location"] == f"{url}?draft={token}&step=materials"
    html = browser.get(done["Location"]).content.decode()
    assert "已上传 1 个文件" in html and "居住证明.pdf" in html and "照片.png" in html and 'value="阳明路 1 号"' in html
    case = Case.objects.get(public_id=token)
    assert case.state == "draft" and case.form_data == {"address": "阳明路 1 号"}
    photo_row = CaseMaterial.objects.get(case=case, material_id=photo)
    removed = browser.post(url, {"token": token, "step": "1", "go": f"remove-{photo_row.public_id}", "address": "阳明路 1 号"})
    assert removed.status_code == 302 and not CaseMaterial.objects.filter(case=case, material_id=photo).exists()
    kept = mat.library_of(verified_citizen)
    assert sorted(f.name for f in kept) == ["居住证明.pdf", "照片.png"]
    photo_file = next(f for f in kept if f.name == "照片.png")
    pick = {"token": token, "step": "1", "go": f"library-{photo}", f"library-{photo}": str(photo_file.public_id), "address": "阳明路 1 号"}
    picked = browser.post(url, pick)
    assert picked.status_code == 302 and CaseMaterial.objects.get(case=case, material_id=photo).source == "library"
    submitted = browser.post(url, {"token": token, "step": "1", "go": "submit", "address": "阳明路 1 号", "query_password": "cx2026ab"})
    assert submitted.status_code == 302 and submitted["Location"].endswith("/receipt/")
    case.refresh_from_db()
    assert case.state == "submitted" and CaseMaterial.objects.filter(case=case).count() == 3  # two files and the licence slot


@pytest.mark.django_db
def test_upload_abuse_through_the_page(verified_citizen, implementation):
    browser = signed_in_client(verified_citizen)
    url = f"/apply/{implementation.code}/"
    token = _token(browser, implementation)
    proof, photo = _slot(implementation, "居住证明"), _slot(implementation, "近期免冠照片")
    base = {"token": token, "step": "1", "go": "upload", "address": "阳明路 1 号"}
    big = browser.post(url, {**base, f"file-{proof}": SimpleUploadedFile("big.pdf", PDF + b"0" * 10_000)})
    assert big.status_code == 422 and "居住证明：文件超过 4 KB" in big.content.decode()
    # Dropped while it arrives: an oversized .exe is refused for its size, never reaching the type check.
    streamed = browser.post(url, {**base, f"file-{proof}": SimpleUploadedFile("setup.exe", b"MZ" + b"0" * 10_000)})
    assert streamed.status_code == 422 and "文件超过 4 KB" in streamed.content.decode() and "不支持" not in streamed.content.decode()
    disguised = browser.post(url, {**base, f"file-{proof}": SimpleUploadedFile("居住证明.pdf", HTML)})
    assert disguised.status_code == 422 and "改了扩展名" in disguised.content.decode()
    browser.post(url, {**base, f"file-{proof}": SimpleUploadedFile("1.pdf", PDF), f"file-{photo}": SimpleUploadedFile("2.pdf", PDF)})
    browser.post(url, {**base, f"file-{proof}": SimpleUploadedFile("3.pdf", PDF)})
    many = browser.post(url, {**base, f"file-{proof}": SimpleUploadedFile("4.pdf", PDF)})
    assert many.status_code == 422 and "最多上传" in many.content.decode()
    assert StoredFile.objects.count() == 3 and CaseMaterial.objects.count() == 3


@pytest.mark.django_db
def test_the_apply_form_still_checks_csrf(verified_citizen, implementation):
    browser = signed_in_client(verified_citizen)
    browser.handler.enforce_csrf_checks = True
    proof = _slot(implementation, "居住证明")
    response = browser.post(
        f"/apply/{implementation.code}/",
        {"token": "7b0c7b52-9c55-4c44-8d45-8f5bd7d3a001", "step": "1", "go": "upload", f"file-{proof}": SimpleUploadedFile("a.pdf", PDF)},
    )
    assert response.status_code == 403 and not StoredFile.objects.exists() and not Case.objects.exists()


# --- who may open a file ------------------------------------------------------------------------------------


@pytest.fixture
def submitted_file(verified_citizen, implementation):
    case = _draft(verified_citizen, implementation)
    row = mat.material_attach(
        actor=verified_citizen, case=case, material_id=_slot(implementation, "居住证明"), upload=ContentFile(PDF, name="居住 证明.pdf")
    )
    cases.case_submit(applicant=verified_citizen, case_id=str(case.public_id))
    return row.file


@pytest.mark.django_db
def test_opening_a_file(submitted_file, verified_citizen, other_citizen, clerk, stranger):
    url = f"/files/{submitted_file.public_id}/"
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    applicant = signed_in_client(verified_citizen).get(url)
    assert applicant.status_code == 200 and b"".join(applicant.streaming_content) == PDF
    assert applicant["Content-Type"] == "application/pdf" and applicant["X-Content-Type-Options"] == "nosniff"
    name = "%E5%B1%85%E4%BD%8F%20%E8%AF%81%E6%98%8E.pdf"  # 居住 证明.pdf
    assert applicant["Content-Disposition"] == f"attachment; filename=\"_____.pdf\"; filename*=UTF-8''{name}"
    assert "no-store" in applicant["Cache-Control"] and "private" in applicant["Cache-Control"]
    assert signed_in_client(other_citizen).get(url).status_code == 404
    for staff, status in ((stranger, 404), (clerk, 200)):
        desk = Client()
        assert console_sign_in(desk, staff, STAFF_PASSWORD).status_code == 302
        assert desk.get(url).status_code == status, staff.username
    assert signed_in_client(verified_citizen).get("/files/not-a-uuid/").status_code == 404
    assert signed_in_client(verified_citizen).get("/files/7b0c7b52-9c55-4c44-8d45-8f5bd7d3a001/").status_code == 404


@pytest.mark.django_db
def test_file_for_covers_documents_and_hides_drafts_from_staff(verified_citizen, other_citizen, clerk, stranger, implementation):
    case = _draft(verified_citizen, implementation)
    proof = _slot(implementation, "居住证明")
    row = mat.material_attach(actor=verified_citizen, case=case, material_id=proof, upload=ContentFile(PDF, name="a.pdf"))
    assert mat.file_for(verified_citizen, str(row.file.public_id)) == row.file
    assert mat.file_for(clerk, str(row.file.public_id)) is None  # a draft is the applicant's alone
    receipt = mat.store_file(upload=ContentFile(PDF, name="受理通知书.pdf"), owner=None, uploaded_by=clerk)
    CaseDocument.objects.create(case=case, kind="accept_receipt", title="受理通知书", file=receipt, created_by=clerk)
    cases.case_submit(applicant=verified_citizen, case_id=str(case.public_id))
    assert mat.file_for(verified_citizen, str(receipt.public_id)) == receipt
    assert mat.file_for(clerk, str(receipt.public_id)) == receipt and mat.file_for(clerk, str(row.file.public_id)) == row.file
    for outsider in (other_citizen, stranger, None):
        assert mat.file_for(outsider, str(receipt.public_id)) is None


@pytest.mark.django_db
def test_the_material_library_page(verified_citizen, other_citizen, django_capture_on_commit_callbacks):
    mine = mat.store_file(upload=ContentFile(PDF, name="户口簿.pdf"), owner=verified_citizen, in_library=True)
    assert Client().get("/my/materials/").status_code == 302
    page = signed_in_client(verified_citizen).get("/my/materials/")
    assert page.status_code == 200 and "户口簿.pdf" in page.content.decode()
    assert "户口簿.pdf" not in signed_in_client(other_citizen).get("/my/materials/").content.decode()
    assert signed_in_client(other_citizen).post(f"/my/materials/{mine.public_id}/remove/").status_code == 302
    mine.refresh_from_db()
    assert mine.in_library
    with django_capture_on_commit_callbacks(execute=True):
        assert signed_in_client(verified_citizen).post(f"/my/materials/{mine.public_id}/remove/").status_code == 302
    assert not StoredFile.objects.filter(pk=mine.pk).exists() and not default_storage.exists(mine.file.name)
