"""The `tongban` command: Django's management commands plus Tongban's own (see `tongban help`)."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tongban.config.settings")
    args = list(sys.argv if argv is None else argv)
    if len(args) > 1:
        # `tongban catalog-import` and `tongban catalog_import` are the same command.
        args[1] = args[1].replace("-", "_")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["tongban", *args[1:]])


if __name__ == "__main__":
    main()
