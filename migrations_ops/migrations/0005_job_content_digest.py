from django.db import migrations


class Migration(migrations.Migration):
    """Job.release_digest always held the release's content digest: name it so."""

    dependencies = [("migrations_ops", "0004_project_sandbox_pg_major")]

    operations = [
        migrations.RenameField(
            model_name="job", old_name="release_digest", new_name="content_digest"
        ),
    ]
