from django.urls import path, re_path

from tongban.web.portal import account, bundles, cases, enterprise, files, inbox, me, tracking, views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("search", views.search, name="search"),
    path("services", views.services, name="services"),
    path("services/<str:code>", views.service, name="service"),
    path("guide/<str:code>", views.guide, name="guide"),
    path("themes/<str:code>", views.theme, name="theme"),
    path("zones/<str:code>", views.zone, name="zone"),
    path("halls", views.halls, name="halls"),
    path("mode/<str:mode>", views.mode, name="mode"),
    path("login/", account.login_view, name="login"),
    path("logout/", account.logout_view, name="logout"),
    path("register/", account.register_view, name="register"),
    path("password-reset/", account.password_reset_view, name="password_reset"),
    path("my/", me.me_home, name="me"),
    path("my/realname/", me.me_realname, name="me_realname"),
    path("my/security/", me.me_security, name="me_security"),
    path("my/security/password/", me.me_password, name="me_password"),
    path("my/security/sessions/end-all/", me.me_sessions_end_all, name="me_sessions_end_all"),
    path("my/security/sessions/<str:session_id>/end/", me.me_session_end, name="me_session_end"),
    path("my/security/apps/<str:application_id>/revoke/", me.me_consent_revoke, name="me_consent_revoke"),
    # 在线申请 and 我的办件 (any case id reaches the view, which answers 404 for a malformed or
    # someone else's); looking a case up by code and query password needs no sign-in.
    path("apply/<str:code>/", cases.apply, name="apply"),
    path("bundles/", bundles.bundle_list, name="bundles"),
    path("bundles/<slug:code>/apply/", bundles.bundle_apply, name="bundle_apply"),
    path("my/cases/", tracking.my_cases, name="my_cases"),
    path("my/cases/<str:case_id>/", tracking.my_case, name="my_case"),
    path("my/cases/<str:case_id>/receipt/", tracking.my_case_receipt, name="my_case_receipt"),
    path("my/cases/<str:case_id>/act/", tracking.my_case_act, name="my_case_act"),
    path("my/cases/<str:case_id>/materials/", tracking.my_case_materials, name="my_case_materials"),
    path("cases/lookup/", tracking.case_lookup, name="case_lookup"),
    # Stored files (answers 404 for a malformed id, someone else's file and an unknown one alike)
    # and the applicant's material library.
    path("files/<str:file_id>/", files.file_download, name="file_download"),
    path("my/materials/", files.my_materials, name="my_materials"),
    path("my/materials/<str:file_id>/remove/", files.my_material_remove, name="my_material_remove"),
    path("my/messages/", inbox.inbox_list, name="inbox"),
    path("my/messages/read-all/", inbox.inbox_read_all, name="inbox_read_all"),
    path("my/messages/settings/", inbox.inbox_settings, name="inbox_settings"),
    # Any id reaches the view (which answers 404 for a malformed one), so an anonymous visitor
    # is always sent to sign in first and learns nothing from the address.
    path("my/messages/<str:item_id>/", inbox.inbox_item, name="inbox_item"),
    path("my/messages/<str:item_id>/archive/", inbox.inbox_archive, name="inbox_archive"),
    # Enterprises: my mandates and the acting identity; the legal representative's e-licence
    # sign-in; the management page (404 for anyone but the legal representative and managers).
    path("my/enterprises/", enterprise.my_enterprises, name="my_enterprises"),
    path("my/enterprises/acting/", enterprise.acting_switch, name="acting_switch"),
    path("enterprise/login/", enterprise.elicence_login, name="enterprise_login"),
    path("enterprise/<str:credit_code>/", enterprise.enterprise_manage, name="enterprise_manage"),
    path("enterprise/<str:credit_code>/managers/", enterprise.enterprise_appoint, name="enterprise_appoint"),
    path("enterprise/<str:credit_code>/agents/", enterprise.enterprise_authorise, name="enterprise_authorise"),
    path("enterprise/<str:credit_code>/mandates/<str:mandate_id>/revoke/", enterprise.enterprise_revoke, name="enterprise_revoke"),
    # The e-mail's link (messaging.services) has no trailing slash; both forms work without a redirect.
    re_path(r"^messages/unsubscribe/(?P<token>[\w.:-]+)/?$", inbox.unsubscribe, name="unsubscribe"),
]
