from django.urls import path

from pages import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("docs", views.SwaggerView.as_view(url_name="schema"), name="docs"),
    path("docs/redoc/", views.RedocView.as_view(url_name="schema"), name="docs-redoc"),
    path("docs/protocol/", views.protocol, name="docs-protocol"),
]
