from django.urls import include, path

from checklists.runbooks import views

# One runbook version's pages, under projects/<slug>/runbooks/<number>/.
version_patterns = [
    path("", views.runbook_detail, name="runbook_detail"),
    path("compare", views.runbook_compare, name="runbook_compare"),
    path("publish", views.runbook_publish_view, name="runbook_publish"),
    path("discard", views.runbook_discard_view, name="runbook_discard"),
    path("steps/<int:pk>", views.runbook_step_edit, name="runbook_step_edit"),
]

urlpatterns = [
    path("runbooks/", views.runbook_list, name="runbook_list"),
    path("projects/<slug:slug>/runbooks/upload", views.runbook_upload, name="runbook_upload"),
    path("projects/<slug:slug>/runbooks/<int:number>/", include(version_patterns)),
]
