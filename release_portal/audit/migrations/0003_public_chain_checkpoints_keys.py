"""The public chain (canonical, digest, public_hash, form, release_repr), signing keys,
checkpoints and the chain checks started from the audit page. 0004 fills them in."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only_trigger"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("seq", models.BigIntegerField()),
                ("public_hash", models.CharField(max_length=64)),
                ("hash", models.CharField(max_length=64)),
                ("at", models.DateTimeField()),
                (
                    "reason",
                    models.CharField(
                        choices=[
                            ("export", "Export"),
                            ("evidence_pack", "Evidence pack"),
                            ("schedule", "Schedule"),
                            ("rotation", "Key rotation"),
                            ("manual", "On request"),
                        ],
                        max_length=16,
                    ),
                ),
                ("key_id", models.CharField(max_length=16)),
                ("document", models.JSONField()),
            ],
            options={
                "ordering": ["-pk"],
            },
        ),
        migrations.CreateModel(
            name="AuditSigningKey",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("key_id", models.CharField(max_length=16, unique=True)),
                ("public_key", models.TextField()),
                ("valid_from_seq", models.BigIntegerField()),
                ("valid_from", models.DateTimeField()),
                ("valid_until_seq", models.BigIntegerField(blank=True, null=True)),
                ("valid_until", models.DateTimeField(blank=True, null=True)),
                ("rotation", models.JSONField(blank=True, null=True)),
            ],
            options={
                "ordering": ["valid_from_seq", "pk"],
            },
        ),
        migrations.CreateModel(
            name="AuditVerification",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("queued", "Waiting for a worker"),
                            ("running", "Running"),
                            ("done", "Done"),
                            ("failed", "Could not finish"),
                        ],
                        default="queued",
                        max_length=10,
                    ),
                ),
                ("requested_by_id", models.BigIntegerField(null=True)),
                ("requested_by_name", models.CharField(max_length=200)),
                ("expect_head", models.CharField(blank=True, max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("total", models.BigIntegerField(default=0)),
                ("checked", models.BigIntegerField(default=0)),
                ("ok", models.BooleanField(null=True)),
                ("result", models.JSONField(blank=True, default=dict)),
                ("error", models.CharField(blank=True, max_length=500)),
            ],
            options={
                "ordering": ["-pk"],
            },
        ),
        migrations.AddField(
            model_name="auditchainhead",
            name="public_hash",
            field=models.CharField(
                default="0000000000000000000000000000000000000000000000000000000000000000",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="canonical",
            field=models.TextField(default=""),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="digest",
            field=models.CharField(default="", max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="form",
            # Events already written are in form 1; new ones are written in form 2.
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="form",
            field=models.PositiveSmallIntegerField(default=2),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="public_hash",
            field=models.CharField(default="", max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="release_repr",
            field=models.CharField(blank=True, default="", max_length=300),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["object_type", "object_id", "seq"], name="audit_by_object"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(condition=models.Q(("form", 1)), fields=["seq"], name="audit_form1"),
        ),
        migrations.AddIndex(
            model_name="auditcheckpoint",
            index=models.Index(fields=["-at"], name="audit_checkpoint_newest"),
        ),
        migrations.AddConstraint(
            model_name="auditsigningkey",
            constraint=models.UniqueConstraint(
                condition=models.Q(("valid_until_seq__isnull", True)),
                fields=("valid_until_seq",),
                name="audit_one_current_signing_key",
            ),
        ),
        migrations.AddConstraint(
            model_name="auditverification",
            constraint=models.UniqueConstraint(
                models.Value(True),
                condition=models.Q(("state__in", ["queued", "running"])),
                name="audit_one_active_verification",
            ),
        ),
    ]
