from django.db import migrations, models


def mark_restricted(apps, schema_editor):
    """Keys limited to experiments before the flag existed are restricted."""
    ApiKey = apps.get_model("data_browser", "ApiKey")
    ApiKey.objects.filter(experiments__isnull=False).update(restricted=True)


class Migration(migrations.Migration):
    dependencies = [
        ("data_browser", "0004_record_counts"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="restricted",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(mark_restricted, migrations.RunPython.noop),
    ]
