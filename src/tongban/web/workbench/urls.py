from django.urls import path

from tongban.web.workbench import views

app_name = "workbench"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("supervision/", views.supervision, name="supervision"),
    path("intake/", views.intake_start, name="intake"),
    path("intake/<uuid:public_id>/", views.intake_receipt, name="intake_receipt"),
    path("cases/<uuid:public_id>/", views.case_detail, name="case"),
    path("cases/<uuid:public_id>/act", views.case_action, name="case_act"),
    path("cases/<uuid:public_id>/correction", views.case_correction, name="case_correction"),
    path("cases/<uuid:public_id>/deliver", views.case_deliver, name="case_deliver"),
    path("cases/<uuid:public_id>/claim", views.case_claim, name="case_claim"),
    path("cases/<uuid:public_id>/release", views.case_release, name="case_release"),
    path("cases/<uuid:public_id>/reassign", views.case_reassign, name="case_reassign"),
]
