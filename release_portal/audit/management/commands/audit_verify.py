import json

from django.core.management.base import BaseCommand, CommandError

from release_portal.audit.verify import audit_verify


class Command(BaseCommand):
    help = "Verify the change log's hash chain; exit non-zero at the first broken link."

    def add_arguments(self, parser):
        parser.add_argument(
            "--expect-head",
            help="A head hash copied from an earlier release report or export; "
            "catches events removed from the end of the chain.",
        )
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args, **options):
        result = audit_verify(expect_head=options["expect_head"])
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict()))
        elif result.ok:
            self.stdout.write(
                f"OK: {result.checked} events verified; head #{result.head_seq} {result.head_hash}"
            )
        if not result.ok:
            raise CommandError(
                f"change log broken: {result.problem} ({result.checked} events verified before it)"
            )
