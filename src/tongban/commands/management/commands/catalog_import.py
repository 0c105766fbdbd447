from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Import a catalogue file (.json or .xlsx, docs/catalog-format.md). A file with any bad row is refused whole."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        from tongban.catalog import transfer
        from tongban.catalog.services import ImportRefused, catalog_import

        path: Path = options["path"]
        if not path.exists():
            raise CommandError(f"文件不存在：{path}")
        data = path.read_bytes()
        try:
            payload = transfer.read_xlsx(data) if path.suffix.lower() == ".xlsx" else transfer.read_json(data)
            result = catalog_import(actor=None, payload=payload)
        except ImportRefused as refused:
            for problem in refused.problems:
                self.stderr.write(str(problem))
            raise CommandError(refused.message) from refused
        self.stdout.write(
            f"导入完成：新增事项 {result.items_created} 个，更新 {result.items_updated} 个；"
            f"新增实施清单 {result.implementations_created} 条，更新 {result.implementations_updated} 条。"
        )
