from django.contrib.auth import views as auth_views
from django.urls import path

from tongban.web.console import views

app_name = "console"

urlpatterns = [
    path("login", auth_views.LoginView.as_view(template_name="console/login.html", redirect_authenticated_user=True), name="login"),
    path("logout", auth_views.LogoutView.as_view(next_page="console:login"), name="logout"),
    path("", views.home, name="home"),
]
