from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Merge a department system's users (CSV or JSON, docs/accounts-import.md) into the account library; prints a report."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="a .csv or .json file")
        parser.add_argument("--source", default="", help="the department system the file comes from (default: the file's name)")
        parser.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
        parser.add_argument("--json", action="store_true", help="print the whole report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        from tongban.common.errors import DomainError
        from tongban.identity.accounts_import import STATUS_LABELS, accounts_import

        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"找不到文件：{path}")
        if path.stat().st_size > settings.DATA_UPLOAD_MAX_MEMORY_SIZE * 10:
            raise CommandError("文件太大，请拆分后分批导入。")
        try:
            report = accounts_import(
                actor=None, content=path.read_bytes(), source=options["source"] or path.stem, dry_run=options["dry_run"]
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        else:
            counts = "，".join(f"{STATUS_LABELS[k]} {n}" for k, n in report.counts.items())
            self.stdout.write(f"{'试导入（未写入）' if report.dry_run else '已导入'}：{counts}")
            for row in report.conflicts:
                self.stdout.write(f"  第 {row.line} 行 {row.name} {row.id_number}：{' '.join(row.messages)}")
        if report.conflicts:
            raise CommandError(f"{len(report.conflicts)} 行有冲突，未写入；其余行{'可以导入' if report.dry_run else '已导入'}。")
