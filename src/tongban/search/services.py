"""Keeping the index in step with the catalogue.

The catalogue writes a change-feed row in the transaction of every change; `search_sync` absorbs
the feed from where it stopped. It runs before each search (one cheap query when nothing
changed) and from `tongban reindex`, so the index follows the catalogue without a manual
rebuild and never shows what rolled back.
"""

from __future__ import annotations

from django.db import connection, transaction

from tongban.catalog import selectors as catalog
from tongban.catalog.models import BaseItem
from tongban.search.models import SearchDocument, SearchPosting, SearchState
from tongban.search.text import normalize, tokens

W_NAME, W_ALIAS, W_KEYWORD, W_CONTEXT, W_MATERIAL, W_BODY = 10, 8, 6, 3, 2, 1
BATCH = 500


def _postings_for(item: BaseItem, departments: set[str]) -> dict[str, int]:
    weights: dict[str, int] = {}

    def add(text: str, weight: int) -> None:
        for token in tokens(text):
            if weights.get(token, 0) < weight:
                weights[token] = weight

    add(item.summary, W_BODY)
    add(item.conditions, W_BODY)
    add(item.result_name, W_MATERIAL)
    for material in item.materials.all():
        add(material.name, W_MATERIAL)
    for faq in item.faqs.all():
        add(faq.question, W_MATERIAL)
    for theme in item.themes.all():
        add(theme.name, W_CONTEXT)
    for department in departments:
        add(department, W_CONTEXT)
    for keyword in item.keywords:
        add(keyword, W_KEYWORD)
    for alias in item.aliases:
        add(alias, W_ALIAS)
    add(item.name, W_NAME)
    return weights


def index_items(codes: list[str] | None) -> int:
    """(Re)index the given base items, or all when codes is None. Unpublished items drop out."""
    if codes is None:
        SearchPosting.objects.all().delete()
        SearchDocument.objects.all().delete()
    else:
        stale = list(BaseItem.objects.filter(code__in=codes).values_list("pk", flat=True))
        SearchPosting.objects.filter(item_id__in=stale).delete()
        SearchDocument.objects.filter(item_id__in=stale).delete()
    items = list(catalog.searchable_items(codes))
    count = 0
    for start in range(0, len(items), BATCH):
        chunk = items[start : start + BATCH]
        departments = catalog.departments_of_items([i.pk for i in chunk])
        documents = []
        postings = []
        for item in chunk:
            documents.append(
                SearchDocument(
                    item_id=item.pk,
                    code=item.code,
                    name=item.name,
                    popularity=item.popularity,
                    name_normalized=normalize(item.name),
                    aliases_normalized="\n".join(normalize(a) for a in item.aliases),
                    service_objects="," + ",".join(str(int(o)) for o in item.service_objects) + ",",
                )
            )
            for token, weight in _postings_for(item, departments.get(item.pk, set())).items():
                postings.append(SearchPosting(token=token, item_id=item.pk, weight=weight))
        SearchDocument.objects.bulk_create(documents)
        SearchPosting.objects.bulk_create(postings, batch_size=5000)
        count += len(chunk)
    return count


def _state_for_update() -> SearchState:
    state = SearchState.objects.select_for_update().filter(pk=1).first()
    if state is None:
        state, _ = SearchState.objects.get_or_create(pk=1)
    return state


def search_sync(*, max_rounds: int = 100) -> int:
    """Absorb catalogue changes into the index. Returns the number of items reindexed.

    Concurrent callers serialise on the state row (PostgreSQL row lock; SQLite's IMMEDIATE
    transactions take the write lock at BEGIN) and re-read the cursor after locking, so each
    change is applied once even when many requests notice it at the same moment.
    """
    total = 0
    for _ in range(max_rounds):
        with transaction.atomic():
            state = _state_for_update()
            changes = catalog.feed_after(state.last_feed_id, 5000)
            if not changes:
                return total
            codes = sorted({code for _, code in changes})
            total += index_items(None if "*" in codes else codes)
            state.last_feed_id = changes[-1][0]
            state.save(update_fields=["last_feed_id"])
    return total


def search_rebuild() -> int:
    with transaction.atomic():
        state = _state_for_update()
        head = catalog.feed_head()
        count = index_items(None)
        state.last_feed_id = head
        state.save(update_fields=["last_feed_id"])
    return count


def feed_positions() -> tuple[int, int]:
    """(newest catalogue change, newest change the index absorbed) in one round trip."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT (SELECT MAX(id) FROM catalog_changefeed), (SELECT last_feed_id FROM search_searchstate WHERE id = 1)")
        head, seen = cursor.fetchone()
    return head or 0, seen or 0


def ensure_fresh() -> int:
    """Bring the index up to the catalogue's head; returns the head id (a version of the index)."""
    head, seen = feed_positions()
    if head > seen:
        search_sync()
    return head
