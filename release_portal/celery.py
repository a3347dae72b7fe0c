"""The Celery app. The Job row is the truth; a message only says "job N is ready"."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "release_portal.settings")

app = Celery("release_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folders(sender: Celery, **kwargs: object) -> None:
    # kombu's filesystem transport expects its folders to exist.
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        folder = sender.conf.broker_transport_options.get(key)
        if folder:
            os.makedirs(folder, exist_ok=True)
