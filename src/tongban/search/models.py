"""An inverted index in two ordinary tables, the same on SQLite and PostgreSQL (ADR 0003).

Tokens are produced in Python (jieba words plus character bigrams), so the database only
looks up (token → item) postings by an index and sums weights: no full-text dialect, no
parser that drops CJK characters under a C locale.
"""

from __future__ import annotations

from django.db import models


class SearchDocument(models.Model):
    # The catalogue's base item, by its id (search reads the catalogue; no FK so the index can be
    # rebuilt or dropped without touching catalogue tables).
    item_id = models.BigIntegerField(unique=True)
    code = models.CharField(max_length=12)
    name = models.CharField(max_length=120)
    popularity = models.PositiveIntegerField(default=0)
    # Denormalised for ranking and filtering in one query: normalised name and aliases (one per
    # line) for exact-match boosts, service objects as ",1,2," for a LIKE filter.
    name_normalized = models.CharField(max_length=120, default="")
    aliases_normalized = models.TextField(default="")
    service_objects = models.CharField(max_length=64, default="")


class SearchPosting(models.Model):
    token = models.CharField(max_length=32)
    item_id = models.BigIntegerField()
    # Strongest field the token occurs in: name 10, alias 8, keyword 6, theme/department 3,
    # material or FAQ 2, summary or conditions 1.
    weight = models.PositiveSmallIntegerField()

    class Meta:
        indexes = [models.Index(fields=["token", "item_id", "weight"], name="search_posting_token")]
        constraints = [models.UniqueConstraint(fields=["item_id", "token"], name="search_posting_once")]


class SearchState(models.Model):
    """Singleton: the last catalogue change-feed id the index has absorbed."""

    last_feed_id = models.BigIntegerField(default=0)
