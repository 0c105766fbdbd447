from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "tongban.messaging"
    label = "messaging"
    verbose_name = "统一消息中心"
