"""Channel.secrets becomes Fernet ciphertext (channels_app.crypto): the plaintext JSON column is renamed, an
encrypted column takes its name, every row is copied across encrypted, and the plaintext column is dropped.
Reversible: going back decrypts into a plaintext JSON column again (which needs the key)."""

from django.db import migrations

import channels_app.fields


def encrypt_secrets(apps, schema_editor):
    Channel = apps.get_model("channels_app", "Channel")
    for channel in Channel.objects.using(schema_editor.connection.alias).only("pk", "secrets_plain"):
        channel.secrets = channel.secrets_plain or {}
        channel.save(update_fields=["secrets"])


def decrypt_secrets(apps, schema_editor):
    Channel = apps.get_model("channels_app", "Channel")
    for channel in Channel.objects.using(schema_editor.connection.alias).only("pk", "name", "secrets"):
        channel.secrets_plain = dict(channel.secrets or {})
        channel.save(update_fields=["secrets_plain"])


class Migration(migrations.Migration):
    dependencies = [("channels_app", "0002_channels_and_deliveries")]

    operations = [
        migrations.RenameField(model_name="channel", old_name="secrets", new_name="secrets_plain"),
        migrations.AddField(
            model_name="channel",
            name="secrets",
            field=channels_app.fields.EncryptedJSONField(blank=True, default=dict, editable=False),
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
        migrations.RemoveField(model_name="channel", name="secrets_plain"),
    ]
