from django.urls import path

from migrations_ops.jobs import views as views_jobs

urlpatterns = [
    path("jobs/<int:pk>/", views_jobs.job_detail, name="job_detail"),
    path("jobs/<int:pk>/log", views_jobs.job_log, name="job_log"),
    path("jobs/<int:pk>/cancel", views_jobs.job_cancel_view, name="job_cancel"),
    path("jobs/<int:pk>/retry", views_jobs.job_retry_view, name="job_retry"),
    path("releases/<int:pk>/jobs/", views_jobs.release_jobs, name="release_jobs"),
    path("releases/<int:pk>/jobs", views_jobs.release_job_start, name="release_job_start"),
    path("releases/<int:pk>/preflight", views_jobs.release_preflight, name="release_preflight"),
]
