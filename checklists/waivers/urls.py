from django.urls import path

from checklists.waivers import views

urlpatterns = [
    path(
        "releases/<int:pk>/items/<int:item_pk>/waivers",
        views.waiver_ask_view,
        name="waiver_ask",
    ),
    path(
        "releases/<int:pk>/waivers/<int:waiver_pk>/approve",
        views.waiver_approve_view,
        name="waiver_approve",
    ),
    path(
        "releases/<int:pk>/waivers/<int:waiver_pk>/revoke",
        views.waiver_revoke_view,
        name="waiver_revoke",
    ),
]
