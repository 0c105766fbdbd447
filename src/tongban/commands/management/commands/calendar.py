from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"日期“{value}”格式应为 YYYY-MM-DD") from exc


class Command(BaseCommand):
    help = "Working-day calendar: show, set or delete overrides; mark a year complete; count working days."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        show = sub.add_parser("show", help="list overrides of a year")
        show.add_argument("year", type=int)
        setp = sub.add_parser("set", help="declare a date a working day (--workday) or a holiday (--holiday)")
        setp.add_argument("date")
        kind = setp.add_mutually_exclusive_group(required=True)
        kind.add_argument("--workday", action="store_true")
        kind.add_argument("--holiday", action="store_true")
        setp.add_argument("--note", required=True)
        delete = sub.add_parser("delete", help="remove an override")
        delete.add_argument("date")
        year = sub.add_parser("year", help="mark a year's holidays as fully entered")
        year.add_argument("year", type=int)
        year.add_argument("--source", required=True, help="the State Council notice")
        add = sub.add_parser("add", help="the date N working days after DATE")
        add.add_argument("date")
        add.add_argument("days", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        from tongban.common.errors import DomainError
        from tongban.org import calendar, services
        from tongban.org.models import WorkdayOverride

        action = options["action"]
        try:
            if action == "show":
                for row in WorkdayOverride.objects.filter(date__year=options["year"]):
                    self.stdout.write(f"{row.date}  {'上班' if row.is_workday else '放假'}  {row.note}")
            elif action == "set":
                services.workday_override_set(actor=None, date=_date(options["date"]), is_workday=options["workday"], note=options["note"])
            elif action == "delete":
                services.workday_override_delete(actor=None, date=_date(options["date"]))
            elif action == "year":
                services.calendar_year_set(actor=None, year=options["year"], source=options["source"], complete=True)
            elif action == "add":
                self.stdout.write(calendar.add_working_days(_date(options["date"]), options["days"]).isoformat())
        except DomainError as exc:
            raise CommandError(exc.message) from exc
