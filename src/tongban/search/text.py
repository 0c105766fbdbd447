"""Chinese text into search tokens: jieba words plus character bigrams.

Words alone miss parts of words (上牌 inside 新车上牌 is one jieba word); bigrams alone rank
poorly. Both together let two-character queries and word parts match while whole words weigh
more. Latin letters and digits are kept as words (lowercased).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache

import jieba

jieba.setLogLevel(logging.WARNING)

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_CJK}]+|[a-z0-9]+")
_IS_CJK = re.compile(rf"^[{_CJK}]+$")
MAX_TOKEN = 32

# Words that carry no meaning for finding a service ("怎么办理" → nothing).
STOPWORDS = frozenset(
    "怎么 怎样 如何 哪里 在哪 在哪里 什么 我要 我想 想要 需要 可以 能否 是否 办理 申请 办 的 了 吗 呢 啊 "
    "要 我 你 给 去 到 在 和 与 及 或 请问 一下 手续 流程 需要什么 哪些 多久 多少".split()
)


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """NFKC (full-width → half-width), lowercase, control characters to spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text)


@lru_cache(maxsize=4096)
def _cut(run: str) -> tuple[str, ...]:
    return tuple(jieba.cut_for_search(run, HMM=False))


def tokens(text: str, *, stopwords: bool = False) -> list[str]:
    """Distinct tokens of `text` in order of first appearance."""
    out: dict[str, None] = {}
    for run in _RUN.findall(normalize(text)):
        if _IS_CJK.match(run):
            if len(run) == 1:
                out.setdefault(run, None)
                continue
            for word in _cut(run):
                if len(word) >= 2 and not (stopwords and word in STOPWORDS):
                    out.setdefault(word[:MAX_TOKEN], None)
            for i in range(len(run) - 1):
                gram = run[i : i + 2]
                if not (stopwords and gram in STOPWORDS):
                    out.setdefault(gram, None)
        else:
            out.setdefault(run[:MAX_TOKEN], None)
    return list(out)


def query_terms(query: str, synonyms: dict[str, list[str]]) -> list[str]:
    """Tokens of a user's query, colloquial terms expanded to the catalogue's words."""
    normalized = normalize(query)
    expanded = [normalized]
    for term, targets in synonyms.items():
        if term in normalized:
            expanded.extend(targets)
    terms: dict[str, None] = {}
    for part in expanded:
        for token in tokens(part, stopwords=True):
            terms.setdefault(token, None)
    return list(terms)


def cjk_chars(query: str) -> list[str]:
    return [ch for ch in dict.fromkeys(normalize(query)) if _IS_CJK.match(ch) and ch not in STOPWORDS]


def warm_up() -> None:
    """Load jieba's dictionary now (about a second) instead of in the first search of each worker;
    gunicorn preloads the app, so the forked workers share the loaded dictionary."""
    jieba.initialize()
    tokens("预热分词词典")
