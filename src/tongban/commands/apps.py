from django.apps import AppConfig


class CommandsConfig(AppConfig):
    """Holds the operator commands of `tongban` (demo, serve, worker, reindex, catalog, calendar)."""

    name = "tongban.commands"
    label = "tongban_commands"
    verbose_name = "命令"
