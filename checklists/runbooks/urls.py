from django.urls import path

from checklists.runbooks import views

urlpatterns = [
    path("runbooks/", views.runbook_list, name="runbook_list"),
    path("projects/<slug:slug>/runbooks/upload", views.runbook_upload, name="runbook_upload"),
    path(
        "projects/<slug:slug>/runbooks/<int:number>/",
        views.runbook_detail,
        name="runbook_detail",
    ),
    path(
        "projects/<slug:slug>/runbooks/<int:number>/compare",
        views.runbook_compare,
        name="runbook_compare",
    ),
    path(
        "projects/<slug:slug>/runbooks/<int:number>/publish",
        views.runbook_publish_view,
        name="runbook_publish",
    ),
    path(
        "projects/<slug:slug>/runbooks/<int:number>/discard",
        views.runbook_discard_view,
        name="runbook_discard",
    ),
    path(
        "projects/<slug:slug>/runbooks/<int:number>/steps/<int:pk>",
        views.runbook_step_edit,
        name="runbook_step_edit",
    ),
]
