from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Export the catalogue as .json or .xlsx (the import format)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--output", type=Path, help="file to write; .xlsx selects Excel, anything else JSON (default: stdout JSON)")
        parser.add_argument("--published-only", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        from tongban.catalog import transfer

        payload = transfer.export_payload(published_only=options["published_only"])
        output: Path | None = options["output"]
        if output is None:
            sys.stdout.buffer.write(transfer.write_json(payload))
            return
        data = transfer.write_xlsx(payload) if output.suffix.lower() == ".xlsx" else transfer.write_json(payload)
        output.write_bytes(data)
        self.stdout.write(f"已导出 {len(payload['items'])} 个事项、{len(payload['implementations'])} 条实施清单到 {output}")
