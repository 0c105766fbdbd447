"""One search box over the catalogue: colloquial Chinese in, ranked services for this hall out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from tongban.catalog import selectors as catalog
from tongban.catalog.models import BaseItem, Implementation
from tongban.common.errors import ValidationFailed
from tongban.org.models import Division
from tongban.search.models import SearchDocument
from tongban.search.services import ensure_fresh
from tongban.search.text import cjk_chars, normalize, query_terms

MAX_TERMS = 24
CANDIDATES = 150


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
    frequencies: dict[str, int] = field(default_factory=dict)


# Per process: what only changes when the catalogue's change feed moves (synonyms, document
# count, token frequencies). Keyed by the feed head that every search reads anyway, so it is
# never stale.
_FACTS = _IndexFacts()
_MAX_CACHED_TOKENS = 50_000
# A token in more than this share of all documents carries little meaning ("登记", "申请") and
# is left out of scoring when the query has better tokens.
_COMMON_SHARE = 0.35


def forget_cached_facts() -> None:
    global _FACTS
    _FACTS = _IndexFacts()


def _facts(head: int) -> _IndexFacts:
    global _FACTS
    if _FACTS.head != head:
        _FACTS = _IndexFacts(head=head, synonyms=catalog.synonyms(), documents=SearchDocument.objects.count())
    return _FACTS


def _frequencies(facts: _IndexFacts, terms: list[str]) -> dict[str, int]:
    missing = [t for t in terms if t not in facts.frequencies]
    if missing:
        placeholders = ", ".join("%s" for _ in missing)
        with connection.cursor() as cursor:
            # COUNT(*) over the (token, item_id, weight) index: an index-only scan.
            cursor.execute(f"SELECT token, COUNT(*) FROM search_searchposting WHERE token IN ({placeholders}) GROUP BY token", missing)
            found = dict(cursor.fetchall())
        if len(facts.frequencies) > _MAX_CACHED_TOKENS:
            facts.frequencies.clear()
        for token in missing:
            facts.frequencies[token] = int(found.get(token, 0))
    return {t: facts.frequencies[t] for t in terms if facts.frequencies[t]}


@dataclass
class _Candidate:
    item_id: int
    code: str
    name: str  # normalised
    aliases: list[str]  # normalised
    popularity: int
    text_score: float
    closeness: int  # 2 implemented in the hall's own division, 1 in an ancestor, 0 only below it


def _candidates(terms: list[str], facts: _IndexFacts, division: Division, filters: Filters) -> list[_Candidate]:
    """Score, scope and filter in one query: the best-scoring documents (BM25-style idf times the
    field weight) that this hall offers, with what ranking needs and nothing heavier."""
    df = _frequencies(facts, terms)
    if not df:
        return []
    total = facts.documents or 1
    idf = {t: math.log(1 + (total - n + 0.5) / (n + 0.5)) for t, n in df.items()}
    telling = [t for t, n in df.items() if n <= total * _COMMON_SHARE]
    present = telling or list(idf)
    cases = " ".join("WHEN %s THEN %s" for _ in present)
    case_params: list[Any] = []
    for token in present:
        case_params.extend([token, idf[token]])
    offered = catalog.offered_sql(
        division, item_column="d.item_id", department=filters.department, level=filters.level, theme=filters.theme
    )
    extra, extra_params = "", []
    if filters.service_object is not None:
        extra, extra_params = " AND d.service_objects LIKE %s", [f"%,{int(filters.service_object)},%"]
    sql = (
        f"SELECT d.item_id, d.code, d.name_normalized, d.aliases_normalized, d.popularity, scored.s, {offered.closeness} "
        f"FROM (SELECT item_id, SUM(weight * CASE token {cases} ELSE 0 END) AS s FROM search_searchposting "
        f"WHERE token IN ({', '.join('%s' for _ in present)}) GROUP BY item_id ORDER BY s DESC, item_id LIMIT {CANDIDATES}) scored "
        f"JOIN search_searchdocument d ON d.item_id = scored.item_id "
        f"WHERE {offered.where}{extra}"
    )
    params = [*offered.closeness_params, *case_params, *present, *offered.where_params, *extra_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        _Candidate(int(item_id), code, name, aliases.split("\n") if aliases else [], int(popularity), float(score), int(closeness))
        for item_id, code, name, aliases, popularity, score, closeness in rows
    ]


def search_items(
    raw_query: str | None, *, division: Division, filters: Filters | None = None, limit: int = 20, max_chars: int = 100
) -> SearchResult:
    filters = filters or Filters()
    query = clean_query(raw_query, max_chars)
    facts = _facts(ensure_fresh())
    terms = query_terms(query, facts.synonyms)[:MAX_TERMS]
    candidates = _candidates(terms, facts, division, filters) if terms else []
    hits: list[Hit] = []
    if candidates:
        ranked = sorted(((c.text_score + _boost(query, c), c.code, c.item_id) for c in candidates), key=lambda row: (-row[0], row[1]))
        ranked = ranked[:limit]
        items = catalog.items_by_pk([pk for _, _, pk in ranked])
        direct = catalog.resolve_many(list(items.values()), division)
        hits = [Hit(item=items[pk], score=round(score, 3), direct=direct.get(pk)) for score, _, pk in ranked]
    result = SearchResult(query=query, hits=hits)
    if not hits:
        result.suggestions = _similar(query, division)
        result.popular = catalog.popular_items(division, limit=6)
    return result


def _boost(query: str, candidate: _Candidate) -> float:
    boost = math.log1p(candidate.popularity) * 1.5 + (0, 3, 8)[candidate.closeness]
    if query == candidate.name:
        boost += 1000
    elif query in candidate.aliases:
        boost += 600
    elif query in candidate.name:
        boost += 60
    elif any(query in alias for alias in candidate.aliases):
        boost += 40
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
    allowed = catalog.items_available(ids, division) if ids else set()
    items = catalog.items_by_pk([i for i in ids if i in allowed])
    return [items[i] for i in ids if i in items][:5]
