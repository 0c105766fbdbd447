from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the background worker (django-tasks database backend) and keep the search index in step."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--queue-name", default="*")

    def handle(self, *args: Any, **options: Any) -> None:
        from tongban.search.services import search_sync

        synced = search_sync()
        self.stdout.write(f"search index: {synced} items refreshed")
        call_command("db_worker", queue_name=options["queue_name"])
