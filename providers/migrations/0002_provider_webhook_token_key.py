"""Event webhooks (API.md section 16.1): a random URL token per provider and its verification key.

The token is added nullable, filled row by row (a callable default would give every existing
row the same value), then made unique.
"""

import secrets

from django.db import migrations, models

import providers.models


def tokens_fill(apps, schema_editor):
    SmtpProvider = apps.get_model("providers", "SmtpProvider")
    for provider in SmtpProvider.objects.filter(webhook_token__isnull=True).only("pk"):
        SmtpProvider.objects.filter(pk=provider.pk).update(webhook_token=secrets.token_urlsafe(24))


class Migration(migrations.Migration):
    dependencies = [("providers", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="smtpprovider",
            name="webhook_token",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.RunPython(tokens_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="smtpprovider",
            name="webhook_token",
            field=models.CharField(
                default=providers.models.webhook_token_generate,
                editable=False,
                max_length=64,
                unique=True,
            ),
        ),
        migrations.AddField(
            model_name="smtpprovider",
            name="webhook_key_encrypted",
            field=models.TextField(blank=True, db_default="", default="", editable=False),
        ),
    ]
