"""The Jinja2 environment for the public portal templates (web/jinja2/portal/).

Django's Jinja2 backend already puts `request`, `csrf_input` and `csrf_token` in every context
rendered with a request, and runs the `context_processors` listed in the backend's OPTIONS
(settings.TEMPLATES). This module adds the globals and filters the templates use, each one a port
of the Django template tag or filter the portal used before, so the HTML stays the same.
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache
from operator import attrgetter
from typing import Any, NamedTuple

import jinja2
from django.conf import settings
from django.template import defaultfilters
from django.templatetags.static import static
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.translation import get_language
from jinja2 import pass_context, pass_eval_context
from jinja2.nodes import EvalContext
from jinja2.runtime import Context

from tongban.web.templatetags.qr import qr_data_uri

# A URL argument made only of these characters is never changed by reverse(): `str`, `slug` and
# `path` converters accept it as is and it needs no percent-encoding.
_PLAIN_ARG = re.compile(r"[0-9A-Za-z_-]+")
_PROBES = ("0Probe", "Zz_-9")


def _url_stem(name: str, key: str, urlconf: Any) -> str | None:
    """The part of reverse(name, kwargs={key: value}) before `value`, when the route ends in that
    one argument and takes any plain value (a `str`, `slug` or `path` converter); otherwise None."""
    stem = None
    for probe in _PROBES:
        try:
            found = reverse(name, kwargs={key: probe}, urlconf=urlconf)
        except NoReverseMatch:
            return None
        if not found.endswith(probe) or (stem is not None and found[: -len(probe)] != stem):
            return None
        stem = found[: -len(probe)]
    return stem


class _Stems(dict[tuple[str, str], str | None]):
    """(route name, argument) → stem, for one script prefix, URL configuration and language."""

    def __init__(self, urlconf: Any) -> None:
        super().__init__()
        self.urlconf = urlconf

    def __missing__(self, route: tuple[str, str]) -> str | None:
        stem = self[route] = _url_stem(*route, urlconf=self.urlconf)
        return stem


@lru_cache(maxsize=32)
def _stems_for(prefix: str, urlconf: Any, language: str | None) -> _Stems:
    return _Stems(urlconf)


def _stems(request: Any) -> _Stems:
    # The script prefix, URL configuration and language are per request; reading them costs more
    # than the rest of url(), so once per request.
    stems = getattr(request, "_tb_url_stems", None)
    if stems is None:
        stems = _stems_for(get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF, get_language())
        if request is not None:
            request._tb_url_stems = stems
    return stems


@pass_context
def url(context: Context, name: str, **kwargs: Any) -> str:
    """{% url name key=value %}: django.urls.reverse(name, kwargs=kwargs).

    Pages link to dozens of items and reverse() costs tens of microseconds each time. For the usual
    one plain argument (`code=...`) the route's fixed part is worked out once (per route, script
    prefix, URL configuration and language) and the argument appended: what reverse() returns.
    """
    if len(kwargs) == 1:
        ((key, value),) = kwargs.items()
        value = str(value)
        if _PLAIN_ARG.fullmatch(value):
            stem = _stems(context.get("request"))[name, key]
            if stem is not None:
                return stem + value
    return reverse(name, kwargs=kwargs)


class GroupedResult(NamedTuple):
    grouper: Any
    list: list[Any]


def regroup(items: Any, attribute: str, prefix: int | None = None) -> list[GroupedResult]:
    """{% regroup items by attribute|slice:":prefix" as groups %}: consecutive items with the same
    key, in their order (unlike Jinja's groupby, which sorts)."""
    get = attrgetter(attribute)

    def key(obj: Any) -> Any:
        try:
            value = get(obj)
        except (AttributeError, TypeError):
            return None
        return value[:prefix] if prefix is not None else value

    return [GroupedResult(grouper, list(group)) for grouper, group in itertools.groupby(items, key)]


@pass_eval_context
def linebreaksbr(eval_ctx: EvalContext, value: Any) -> str:
    return defaultfilters.linebreaksbr(value, autoescape=eval_ctx.autoescape)


@pass_eval_context
def linebreaks(eval_ctx: EvalContext, value: Any) -> str:
    return defaultfilters.linebreaks_filter(value, autoescape=eval_ctx.autoescape)


def environment(**options: Any) -> jinja2.Environment:
    # The DTL templates kept their final newline; so do these (byte-for-byte the same pages).
    options.setdefault("keep_trailing_newline", True)
    # DTL prints a missing variable as "", with DEBUG on too; Django's backend would pick
    # DebugUndefined under DEBUG, which prints "{{ name }}" into the page.
    options["undefined"] = jinja2.Undefined
    # Autoescaping is what keeps the pages safe: always on, whatever OPTIONS say.
    options.pop("autoescape", None)
    env = jinja2.Environment(autoescape=True, **options)
    env.globals.update(url=url, static=static)
    env.filters.update(
        qr_data_uri=qr_data_uri,
        regroup=regroup,
        linebreaksbr=linebreaksbr,
        linebreaks=linebreaks,
        # Django's own, so the output matches what the DTL filters printed.
        urlencode=defaultfilters.urlencode,
        truncatechars=defaultfilters.truncatechars,
        date=defaultfilters.date,
    )
    return env
