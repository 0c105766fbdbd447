from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "tongban.web"
    label = "web"
    verbose_name = "页面"
