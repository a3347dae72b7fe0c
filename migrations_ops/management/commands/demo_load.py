from django.conf import settings
from django.core.management.base import BaseCommand

from migrations_ops import demo


class Command(BaseCommand):
    help = (
        "Load the demo (users for each role, a project, targets and their databases, "
        "reached as a role of their own); safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Load even with DEBUG off (never in production)."
        )

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            self.stdout.write("demo_load skipped: DEBUG is off (this looks like production).")
            return
        demo.demo_targets_prepare(log=self.stdout.write)
        loaded = demo.demo_users_and_project()
        demo.demo_project_settings(loaded["project"])
        from checklists.runbooks.services import runbook_ensure_default

        version = runbook_ensure_default(project=loaded["project"], user=None)
        self.stdout.write(f"Runbook: {version.title} v{version.number} (published).")
        release = demo.demo_release(loaded["project"], loaded["users"])
        release.refresh_from_db()
        self.stdout.write(f"Release: {release.title} ({release.get_state_display()}).")
        for job in demo.demo_analysis_queue(release):
            self.stdout.write(f"Queued: {job.get_kind_display()} (job #{job.pk}).")
        self.stdout.write(
            f"Demo ready: project {loaded['project'].slug!r} with {len(loaded['users'])} people."
        )
