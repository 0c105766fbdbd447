"""QR codes as inline SVG data URIs (segno, no JavaScript, allowed by the CSP's img-src data:)."""

from __future__ import annotations

import segno
from django import template

register = template.Library()


@register.filter
def qr_data_uri(text: str) -> str:
    return str(segno.make(text, error="m").svg_data_uri(scale=4, border=2, dark="#1a1a1a", light="#ffffff"))
