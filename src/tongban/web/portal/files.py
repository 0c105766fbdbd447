"""Files: opening a stored file (a case material, a result document) for those who may
(cases.materials.file_for: the owner, the case's applicant, staff whose departments cover the case),
the applicant's material library (材料库), and the per-file size limit applied while an upload is
still arriving (so an oversized file is dropped as it streams, not kept on disk first)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from tongban.cases import materials
from tongban.common.audit import audit_record
from tongban.common.errors import DomainError
from tongban.identity.models import Account
from tongban.web.context import visitor
from tongban.web.portal.account import citizen_required, login_url
from tongban.web.portal.inbox import when

# --- the size limit while the upload arrives --------------------------------------------------------------


class MaterialUploadHandler(FileUploadHandler):
    """Drops a file the moment it passes MATERIAL_MAX_BYTES and notes its field on the request
    (``request.material_too_large``); the other handlers never see the rest of it."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit = int(settings.MATERIAL_MAX_BYTES)
        self.received = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            if self.request is not None:
                self.request.material_too_large.add(self.field_name)  # type: ignore[attr-defined]
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def limit_uploads(request: HttpRequest) -> None:
    """Put the per-file limit in front of Django's upload handlers. Call before anything reads
    ``request.POST`` (the view must be csrf_exempt and check CSRF itself afterwards)."""
    request.material_too_large = set()  # type: ignore[attr-defined]
    try:
        request.upload_handlers.insert(0, MaterialUploadHandler(request))
    except AttributeError:  # the body was read already: store_file's own limit still holds
        pass


# --- opening a file ----------------------------------------------------------------------------------------


def _disposition(name: str) -> str:
    """attachment with an ASCII fallback and the UTF-8 name (RFC 6266 / RFC 5987)."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", name.encode("ascii", "replace").decode("ascii")) or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def file_download(request: HttpRequest, file_id: str) -> HttpResponse:
    """Anonymous visitors sign in first whatever they asked (the address tells them nothing)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        response = redirect_to_login(request.path if request.method == "GET" else "/", login_url())
        add_never_cache_headers(response)
        return response
    return _file_download(request, file_id)


@never_cache
@require_GET
def _file_download(request: HttpRequest, file_id: str) -> HttpResponse:
    user = request.user
    stored = materials.file_for(user, file_id)
    if stored is None:
        back = (reverse("portal:my_cases"), "回到我的办件") if visitor(request).citizen else ("/", "回到首页")
        return render(
            request,
            "portal/error.html",
            {"title": "没有找到这个文件", "status": 404, "message": "这个文件不存在，或您无权查看。", "back": back},
            status=404,
        )
    if getattr(user, "kind", None) != Account.Kind.CITIZEN:
        audit_record(actor=user, action="file.read", object_type="file", object_id=str(stored.public_id))
    response = FileResponse(stored.file.open("rb"), content_type=stored.content_type)
    response["Content-Disposition"] = _disposition(stored.name)
    response["Content-Length"] = str(stored.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


# --- the material library ------------------------------------------------------------------------------------


@never_cache
@citizen_required
@require_GET
def my_materials(request: HttpRequest) -> HttpResponse:
    me = visitor(request).citizen
    return render(
        request,
        "portal/my_materials.html",
        {"files": materials.library_of(me), "limits": materials.limits_text(), "size_text": materials.size_text, "when": when},
    )


@citizen_required
@require_POST
def my_material_remove(request: HttpRequest, file_id: str) -> HttpResponse:
    try:
        materials.library_remove(account=visitor(request).citizen, file_public_id=file_id)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "已从材料库移除。已经用在办件中的文件仍随办件保留。")
    return HttpResponseRedirect(reverse("portal:my_materials"))
