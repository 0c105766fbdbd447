from django.urls import path

from tongban.web.console import (
    calendar_views,
    case_webhook_views,
    forms_views,
    identity_views,
    messaging_views,
    realname_views,
    transfer_views,
    views,
    zone_views,
)

app_name = "console"

urlpatterns = [
    # sign-in: password, then the second factor (identity_views)
    path("login", identity_views.login, name="login"),
    path("login/code", identity_views.login_code, name="identity_login_code"),
    path("login/enrol", identity_views.login_enrol, name="identity_login_enrol"),
    path("logout", identity_views.logout, name="logout"),
    path("account/totp", identity_views.account_totp, name="identity_totp"),
    path("account/password", identity_views.account_password, name="identity_password"),
    path("", views.home, name="home"),
    # catalogue
    path("catalog/items", views.items, name="items"),
    path("catalog/items/new", views.item_new, name="item_new"),
    path("catalog/items/<str:code>", views.item_detail, name="item"),
    path("catalog/items/<str:code>/edit", views.item_edit, name="item_edit"),
    path("catalog/items/<str:code>/status", views.item_status, name="item_status"),
    path("catalog/items/<str:code>/implementations/new", views.implementation_new, name="implementation_new"),
    path("catalog/implementations/<str:code>", views.implementation, name="implementation"),
    path("catalog/implementations/<str:code>/save", views.implementation_save, name="implementation_save"),
    path("catalog/implementations/<str:code>/status", views.implementation_status, name="implementation_status"),
    path("catalog/import", transfer_views.catalog_import, name="import"),
    path("catalog/import/template", transfer_views.catalog_template, name="import_template"),
    path("catalog/export", transfer_views.catalog_export, name="export"),
    path("catalog/zones", zone_views.zones, name="zones"),
    path("catalog/zones/new", zone_views.zone_new, name="zone_new"),
    path("catalog/zones/<str:code>", zone_views.zone_edit, name="zone"),
    path("catalog/synonyms", zone_views.synonyms, name="synonyms"),
    # application forms (申请表) of implementations
    path("forms/", forms_views.form_list, name="forms"),
    path("forms/<str:code>", forms_views.form_edit, name="form_edit"),
    path("forms/<str:code>/restore", forms_views.form_restore, name="form_restore"),
    path("forms/<str:code>/preview", forms_views.form_preview, name="form_preview"),
    # working-day calendar
    path("calendar", calendar_views.calendar, name="calendar"),
    path("calendar/override", calendar_views.override_set, name="override_set"),
    path("calendar/override/delete", calendar_views.override_delete, name="override_delete"),
    path("calendar/year", calendar_views.calendar_year, name="calendar_year"),
    # message centre
    path("messages/", messaging_views.overview, name="messages"),
    path("messages/failures", messaging_views.failures, name="message_failures"),
    path("messages/deliveries/<int:delivery_id>/redrive", messaging_views.delivery_redrive, name="message_delivery_redrive"),
    path("messages/callbacks/<int:callback_id>/redrive", messaging_views.callback_redrive, name="message_callback_redrive"),
    path("cases/webhooks", case_webhook_views.failed_webhooks, name="case_webhooks"),
    path("cases/webhooks/<int:webhook_id>/redrive", case_webhook_views.webhook_redrive, name="case_webhook_redrive"),
    path("messages/sandbox-sms", messaging_views.sandbox_sms, name="message_sandbox"),
    path("messages/support", messaging_views.support, name="message_support"),
    path("messages/templates", messaging_views.templates, name="message_templates"),
    path("messages/templates/new", messaging_views.template_new, name="message_template_new"),
    path("messages/templates/<slug:code>", messaging_views.template_detail, name="message_template"),
    path("messages/templates/<slug:code>/edit", messaging_views.template_edit, name="message_template_edit"),
    path("messages/clients", messaging_views.api_clients, name="message_clients"),
    # identity: in-person real-name checks at a hall window
    path("identity/realname", realname_views.realname, name="realname"),
    # identity: applications, staff roles, account import
    path("identity/apps", identity_views.apps, name="identity_apps"),
    path("identity/apps/new", identity_views.app_new, name="identity_app_new"),
    path("identity/apps/<uuid:public_id>", identity_views.app_edit, name="identity_app"),
    path("identity/apps/<uuid:public_id>/disable", identity_views.app_disable, name="identity_app_disable"),
    path("identity/apps/<uuid:public_id>/secret", identity_views.app_secret, name="identity_app_secret"),
    path("identity/staff", identity_views.staff_list, name="identity_staff"),
    path("identity/staff/<uuid:public_id>", identity_views.staff_member, name="identity_staff_member"),
    path("identity/staff/<uuid:public_id>/roles/<int:role_id>/revoke", identity_views.staff_role_revoke, name="identity_staff_revoke"),
    path("identity/staff/<uuid:public_id>/totp-reset", identity_views.staff_totp_reset, name="identity_staff_totp_reset"),
    path("identity/accounts-import", identity_views.accounts_import, name="identity_import"),
]
