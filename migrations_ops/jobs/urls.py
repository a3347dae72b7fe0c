from django.urls import path

from migrations_ops.jobs import views

urlpatterns = [
    path("jobs/<int:pk>/", views.job_detail, name="job_detail"),
    path("jobs/<int:pk>/log", views.job_log, name="job_log"),
    path("jobs/<int:pk>/result.json", views.job_result_json, name="job_result_json"),
    path("jobs/<int:pk>/cancel", views.job_cancel_view, name="job_cancel"),
    path("jobs/<int:pk>/retry", views.job_retry_view, name="job_retry"),
    path("releases/<int:pk>/jobs/", views.release_jobs, name="release_jobs"),
    path("releases/<int:pk>/jobs", views.release_job_start, name="release_job_start"),
    path("releases/<int:pk>/preflight", views.release_preflight, name="release_preflight"),
]
