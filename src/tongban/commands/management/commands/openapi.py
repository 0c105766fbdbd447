from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError


def openapi_text() -> str:
    from tongban.api.urls import api

    schema = api.get_openapi_schema(path_prefix="/api/v1")
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


class Command(BaseCommand):
    help = "Write the OpenAPI document (--output) or check that the committed one is current (--check)."

    def add_arguments(self, parser: Any) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--output", type=Path)
        group.add_argument("--check", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        text = openapi_text()
        if options["output"]:
            options["output"].write_text(text, encoding="utf-8")
            self.stdout.write(f"wrote {options['output']}")
            return
        committed = options["check"].read_text(encoding="utf-8") if options["check"].exists() else ""
        if committed != text:
            raise CommandError(f"{options['check']} is out of date with the API. Run 'make openapi' and commit the result.")
        self.stdout.write("OpenAPI document is current")
