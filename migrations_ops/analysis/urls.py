from django.urls import path

from migrations_ops.analysis import views

urlpatterns = [
    path("releases/<int:pk>/analysis", views.release_analysis_card, name="release_analysis"),
]
