from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

QUALIFIERS = [
    "首次申请",
    "变更",
    "延续",
    "补证",
    "注销",
    "换证",
    "迁入",
    "迁出",
    "核查",
    "备案",
    "年度审验",
    "信息更正",
    "增项",
    "减项",
    "转让",
    "异地办理",
    "加急",
    "复核",
    "撤回",
    "恢复",
]


class Command(BaseCommand):
    help = (
        "Generate benchmark catalogue data on top of the demo: synthetic base items (variants of the demo's items) "
        "implemented in every county until the implementation table holds --implementations rows. Never commit its output."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--implementations", type=int, default=100_000)

    def handle(self, *args: Any, **options: Any) -> None:
        from tongban.catalog import services as catalog
        from tongban.catalog.models import BaseItem, Faq, Fee, Implementation, Material, ProcessStep
        from tongban.demo.loader import ALL_ITEMS, implementation_rows
        from tongban.org.models import Division
        from tongban.search.services import search_rebuild

        target = options["implementations"]
        if not BaseItem.objects.filter(code=ALL_ITEMS[0]["code"]).exists():
            raise CommandError("Load the demo first: tongban demo")
        started = time.monotonic()
        divisions = {d.code: d for d in Division.objects.filter(level__lte=4)}
        per_item = max(1, sum(1 for d in divisions.values() if d.level == 4))
        existing = Implementation.objects.count()
        needed_items = max(0, (target - existing + per_item - 1) // per_item)
        created_items = 0
        templates = [raw for raw in ALL_ITEMS if 4 in raw["impl"]["levels"]]
        serial = 0
        pending: list[dict[str, Any]] = []
        while created_items < needed_items:
            template = templates[serial % len(templates)]
            qualifier = QUALIFIERS[(serial // len(templates)) % len(QUALIFIERS)]
            round_no = serial // (len(templates) * len(QUALIFIERS))
            serial += 1
            code = f"9{serial:08d}000"[:12]
            if BaseItem.objects.filter(code=code).exists():
                created_items += 1
                continue
            suffix = f"（{qualifier}）" if round_no == 0 else f"（{qualifier}{round_no + 1}）"
            item = BaseItem.objects.create(
                code=code,
                name=(template["name"] + suffix)[:120],
                item_type=template["item_type"],
                summary=template["summary"],
                legal_basis=template["legal_basis"],
                conditions=template["conditions"],
                service_objects=template["service_objects"],
                levels=[4],
                aliases=[a + qualifier for a in template["aliases"][:2]],
                keywords=template["keywords"],
                popularity=template["popularity"] // (10 + serial % 50),
                status="published",
            )
            Material.objects.bulk_create(
                [
                    Material(item=item, sort=i, name=m["name"], license_type=m.get("license_type", ""))
                    for i, m in enumerate(template["materials"])
                ]
            )
            ProcessStep.objects.bulk_create(
                [ProcessStep(item=item, sort=i, name=s["name"], description=s["description"]) for i, s in enumerate(template["steps"])]
            )
            Fee.objects.bulk_create(
                [Fee(item=item, sort=i, name=x["name"], standard=x["standard"], basis=x["basis"]) for i, x in enumerate(template["fees"])]
            )
            Faq.objects.bulk_create(
                [Faq(item=item, sort=i, question=q["question"], answer=q["answer"]) for i, q in enumerate(template["faqs"])]
            )
            pending.append({**template, "code": code, "impl": {**template["impl"], "levels": [4]}})
            created_items += 1
            if len(pending) == 100 or created_items == needed_items:
                catalog.implementations_bulk_create(actor=None, rows=implementation_rows(divisions, items=pending))
                pending = []
                self.stdout.write(f"  {created_items}/{needed_items} items, {Implementation.objects.count()} implementations")
        indexed = search_rebuild()
        self.stdout.write(
            f"{Implementation.objects.count()} implementations, {BaseItem.objects.count()} base items, "
            f"{indexed} indexed in {time.monotonic() - started:.0f} s"
        )
