from django.urls import path

from tongban.web.workbench import views

app_name = "workbench"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("supervision/", views.supervision, name="supervision"),
    path("cases/<uuid:public_id>/", views.case_detail, name="case"),
    path("cases/<uuid:public_id>/act", views.case_action, name="case_act"),
    path("cases/<uuid:public_id>/correction", views.case_correction, name="case_correction"),
]
