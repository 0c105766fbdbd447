from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "tongban.messaging"
    label = "messaging"
    verbose_name = "统一消息中心"

    def ready(self) -> None:
        from tongban.identity import ports
        from tongban.messaging.otp import otp_check
        from tongban.messaging.services import account_notice

        ports.connect_account_notice(account_notice)
        ports.connect_otp_check(otp_check)
