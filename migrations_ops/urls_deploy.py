from django.urls import path

from migrations_ops import views_deploy

urlpatterns = [
    path("releases/<int:pk>/apply", views_deploy.release_apply, name="release_apply"),
]
