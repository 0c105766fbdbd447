"""GET /api/v1/search: the portal's search box as an API."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja import Query, Router, Schema

from tongban.api.schemas import ErrorOut
from tongban.common.errors import DomainError, NotFound
from tongban.common.ratelimit import rate_limited
from tongban.org import selectors as org
from tongban.search import selectors as search

router = Router(tags=["搜索"])


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429


class SearchQuery(Schema):
    q: str = ""
    hall: str | None = None
    department: str | None = None
    theme: str | None = None
    service_object: int | None = None
    level: int | None = None
    limit: int = 20


class SearchHit(Schema):
    base_code: str
    name: str
    score: float
    item_type: str
    implementation: str | None
    department: str | None


class Suggestion(Schema):
    base_code: str
    name: str


class SearchOut(Schema):
    query: str
    hall: str
    hits: list[SearchHit]
    suggestions: list[Suggestion]


@router.get(
    "/search",
    response={200: SearchOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut},
    summary="搜索事项（中文分词+二元组，支持口语）",
    operation_id="search",
)
def search_endpoint(request: HttpRequest, params: Query[SearchQuery]) -> SearchOut:
    if rate_limited(request, "search", settings.RATE_LIMIT_SEARCH_PER_MINUTE):
        raise RateLimited("搜索太频繁了，请稍等一分钟再试。")
    hall = org.hall_get(params.hall) if params.hall else org.main_hall()
    if hall is None:
        raise NotFound("指定的办事大厅不存在。")
    result = search.search_items(
        params.q,
        division=hall.division,
        filters=search.Filters(department=params.department, theme=params.theme, service_object=params.service_object, level=params.level),
        limit=max(1, min(params.limit, 50)),
        max_chars=settings.SEARCH_MAX_QUERY_CHARS,
    )
    return SearchOut(
        query=result.query,
        hall=hall.division.code,
        hits=[
            SearchHit(
                base_code=h.item.code,
                name=h.item.name,
                score=h.score,
                item_type=h.item.item_type,
                implementation=h.direct.code if h.direct else None,
                department=h.direct.department.name if h.direct else None,
            )
            for h in result.hits
        ],
        suggestions=[Suggestion(base_code=i.code, name=i.name) for i in result.suggestions],
    )
