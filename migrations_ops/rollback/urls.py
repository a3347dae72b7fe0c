from django.urls import path

from migrations_ops.rollback import views

urlpatterns = [
    path("rollbacks/", views.rollback_list, name="rollback_list"),
    path("rollbacks/<int:pk>/", views.rollback_detail, name="rollback_detail"),
    path("rollbacks/<int:pk>/rehearse", views.rollback_rehearse, name="rollback_rehearse"),
    path("releases/<int:pk>/rollback/", views.rollback_plan_new, name="rollback_plan_new"),
]
