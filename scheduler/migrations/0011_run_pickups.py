# Run.deliveries counted a worker picking the attempt up, next to channels_app's Delivery (messages): renamed.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("scheduler", "0010_defaults_read_at_creation"),
    ]

    operations = [
        migrations.RenameField(model_name="run", old_name="deliveries", new_name="pickups"),
    ]
