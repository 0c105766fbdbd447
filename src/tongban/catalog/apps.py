from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "tongban.catalog"
    label = "catalog"
    verbose_name = "事项目录"

    def ready(self) -> None:
        from tongban.catalog.selectors import unknown_base_codes
        from tongban.identity import ports

        ports.connect_item_codes(unknown_base_codes)
