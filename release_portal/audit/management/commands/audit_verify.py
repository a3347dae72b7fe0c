import json
import time

from django.core.management.base import BaseCommand, CommandError

from release_portal.audit.verify import audit_verify


class Command(BaseCommand):
    help = "Verify the change log's hash chains; exit non-zero at the first broken link."

    def add_arguments(self, parser):
        parser.add_argument(
            "--expect-head",
            help="A head hash (HMAC or public) copied from an earlier report, export or "
            "checkpoint; catches events removed from the end of the chain.",
        )
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args, **options):
        started = time.perf_counter()
        result = audit_verify(expect_head=options["expect_head"])
        seconds = time.perf_counter() - started
        if options["json"]:
            self.stdout.write(json.dumps({**result.as_dict(), "seconds": round(seconds, 3)}))
        elif result.ok:
            rate = f"{result.checked / seconds:,.0f} events/s" if seconds else ""
            self.stdout.write(
                f"OK: {result.checked} events verified in {seconds:.1f} s ({rate}); "
                f"head #{result.head_seq} {result.head_hash}, public hash {result.public_hash}"
            )
        if not result.ok:
            raise CommandError(
                f"change log broken: {result.problem} ({result.checked} events verified before it)"
            )
