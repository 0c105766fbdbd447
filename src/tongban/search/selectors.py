"""One search box over the catalogue: colloquial Chinese in, ranked services for this hall out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count

from tongban.catalog import selectors as catalog
from tongban.catalog.models import BaseItem, Implementation
from tongban.common.errors import ValidationFailed
from tongban.org.models import Division
from tongban.search.models import SearchDocument, SearchPosting
from tongban.search.services import ensure_fresh
from tongban.search.text import cjk_chars, normalize, query_terms

MAX_TERMS = 24
CANDIDATES = 300


class QueryEmpty(ValidationFailed):
    code = "empty_query"


class QueryTooLong(ValidationFailed):
    code = "query_too_long"


@dataclass
class Filters:
    department: str | None = None  # credit code
    theme: str | None = None
    service_object: int | None = None
    level: int | None = None

    def active(self) -> bool:
        return any(v is not None and v != "" for v in (self.department, self.theme, self.service_object, self.level))


@dataclass
class Hit:
    item: BaseItem
    score: float
    direct: Implementation | None


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    suggestions: list[BaseItem] = field(default_factory=list)
    popular: list[BaseItem] = field(default_factory=list)
    departments: list[tuple[str, str]] = field(default_factory=list)


def clean_query(raw: str | None, max_chars: int) -> str:
    query = " ".join(normalize(raw or "").split())
    if not query:
        raise QueryEmpty("请输入要找的服务，例如“出生登记”“换驾照”“开公司”。")
    if len(query) > max_chars:
        raise QueryTooLong(f"搜索词太长了（{len(query)} 个字），请用 {max_chars} 个字以内的关键词，例如“社保卡”。")
    return query


@dataclass
class _IndexFacts:
    head: int = -1
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    documents: int = 0


# Per process: what only changes when the catalogue's change feed moves (synonyms, document
# count). Keyed by the feed head that every search reads anyway, so it is never stale.
_FACTS = _IndexFacts()


def _facts(head: int) -> _IndexFacts:
    global _FACTS
    if _FACTS.head != head:
        _FACTS = _IndexFacts(head=head, synonyms=catalog.synonyms(), documents=SearchDocument.objects.count())
    return _FACTS


def _score(terms: list[str], total_documents: int) -> list[tuple[int, float]]:
    """(item_id, score) for the best candidates, BM25-style idf times the field weight."""
    df = dict(SearchPosting.objects.filter(token__in=terms).values_list("token").annotate(n=Count("id")).values_list("token", "n"))
    if not df:
        return []
    total = total_documents or 1
    idf = {t: math.log(1 + (total - n + 0.5) / (n + 0.5)) for t, n in df.items()}
    present = list(idf)
    cases = " ".join("WHEN %s THEN %s" for _ in present)
    params: list[Any] = []
    for token in present:
        params.extend([token, idf[token]])
    placeholders = ", ".join("%s" for _ in present)
    sql = (
        f"SELECT item_id, SUM(weight * CASE token {cases} ELSE 0 END) AS s "
        f"FROM search_searchposting WHERE token IN ({placeholders}) "
        f"GROUP BY item_id ORDER BY s DESC, item_id LIMIT {CANDIDATES}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *present])
        return [(int(item_id), float(score)) for item_id, score in cursor.fetchall()]


def _allowed(candidates: list[int], division: Division, filters: Filters) -> set[int]:
    qs = catalog.visible_implementations().filter(base_id__in=candidates)
    if division.parent_id is not None:
        qs = qs.filter(catalog.scope_q(division))
    if filters.department:
        qs = qs.filter(department__credit_code=filters.department)
    if filters.level is not None:
        qs = qs.filter(level=filters.level)
    if filters.theme:
        qs = qs.filter(base__themes__code=filters.theme)
    allowed = set(qs.order_by().values_list("base_id", flat=True).distinct())
    if filters.service_object is not None:
        serving = {
            pk
            for pk, objects in BaseItem.objects.filter(pk__in=allowed).values_list("pk", "service_objects")
            if filters.service_object in (objects or [])
        }
        allowed &= serving
    return allowed


def search_items(
    raw_query: str | None, *, division: Division, filters: Filters | None = None, limit: int = 20, max_chars: int = 100
) -> SearchResult:
    filters = filters or Filters()
    query = clean_query(raw_query, max_chars)
    facts = _facts(ensure_fresh())
    terms = query_terms(query, facts.synonyms)[:MAX_TERMS]
    scored = _score(terms, facts.documents) if terms else []
    hits: list[Hit] = []
    if scored:
        allowed = _allowed([item_id for item_id, _ in scored], division, filters)
        scored = [(item_id, s) for item_id, s in scored if item_id in allowed]
        items = catalog.items_by_pk([item_id for item_id, _ in scored])
        direct = catalog.resolve_many(list(items.values()), division)
        ranked = []
        for item_id, base_score in scored:
            item = items[item_id]
            ranked.append((base_score + _boost(query, item, direct.get(item_id), division), item))
        ranked.sort(key=lambda pair: (-pair[0], pair[1].code))
        hits = [Hit(item=item, score=round(score, 3), direct=direct.get(item.pk)) for score, item in ranked[:limit]]
    result = SearchResult(query=query, hits=hits)
    if not hits:
        result.suggestions = _similar(query, division)
        result.popular = catalog.popular_items(division, limit=6)
    return result


def _boost(query: str, item: BaseItem, direct: Implementation | None, division: Division) -> float:
    name = normalize(item.name)
    aliases = [normalize(a) for a in item.aliases]
    boost = math.log1p(item.popularity) * 1.5
    if query == name:
        boost += 1000
    elif query in aliases:
        boost += 600
    elif query in name:
        boost += 60
    elif any(query in alias for alias in aliases):
        boost += 40
    if direct is not None:
        boost += 8 if direct.division_id == division.pk else 3
    return boost


def _similar(query: str, division: Division) -> list[BaseItem]:
    """For an empty result: services whose names share the most characters with the query."""
    chars = cjk_chars(query)[:12]
    if not chars:
        return []
    scored: list[tuple[int, str, int]] = []
    for item_id, code, name in SearchDocument.objects.values_list("item_id", "code", "name"):
        shared = sum(1 for ch in chars if ch in name)
        if shared:
            scored.append((shared, code, item_id))
    scored.sort(key=lambda row: (-row[0], row[1]))
    ids = [item_id for _, _, item_id in scored[:30]]
    allowed = _allowed(ids, division, Filters()) if ids else set()
    items = catalog.items_by_pk([i for i in ids if i in allowed])
    return [items[i] for i in ids if i in items][:5]
