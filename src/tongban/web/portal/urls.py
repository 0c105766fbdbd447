from django.urls import path

from tongban.web.portal import views

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
]
