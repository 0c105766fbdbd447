from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        from django.http import JsonResponse

        return JsonResponse({"code": "not_found", "message": "请求的地址不存在。"}, status=404)
    return render(
        request,
        "portal/error.html",
        {"title": "页面不存在", "status": 404, "message": "您要找的页面不存在或已下线。可以回到首页，或在上方搜索框中查找服务。"},
        status=404,
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/error.html",
        {
            "title": "服务暂时不可用",
            "status": 500,
            "message": "系统出了点问题，我们已记录并将尽快处理。请稍后再试，或拨打 12345 政务服务便民热线。",
        },
        status=500,
    )
