from django.urls import path

from checklists.changes import views

urlpatterns = [
    path("releases/<int:pk>/changes/", views.release_changes, name="release_changes"),
    path(
        "releases/<int:pk>/bundles/<str:digest>/file",
        views.bundle_file,
        name="release_bundle_file",
    ),
]
