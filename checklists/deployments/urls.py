from django.urls import path

from checklists.deployments import views as views_deploy

urlpatterns = [
    path("releases/<int:pk>/apply", views_deploy.release_apply, name="release_apply"),
]
