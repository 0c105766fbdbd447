from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Rebuild the search index from the published catalogue (normally not needed: it follows changes)."

    def handle(self, *args: Any, **options: Any) -> None:
        from tongban.search.services import search_rebuild

        self.stdout.write(f"indexed {search_rebuild()} items")
