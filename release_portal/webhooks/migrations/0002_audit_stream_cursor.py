"""Where each webhook stands in streaming the change log (audit.events)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_webhooks_messages_deliveries"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhook",
            name="audit_stream_seq",
            field=models.BigIntegerField(blank=True, null=True),
        ),
    ]
