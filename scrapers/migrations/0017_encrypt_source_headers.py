"""Source.headers becomes Fernet ciphertext (scheduler.shared.crypto): the plaintext JSON column is renamed, an
encrypted column takes its name, every row is copied across encrypted, and the plaintext column is dropped.
Reversible: going back decrypts into a plaintext JSON column again (which needs the key)."""

from django.db import migrations

import scheduler.shared.fields


def encrypt_headers(apps, schema_editor):
    Source = apps.get_model("scrapers", "Source")
    for source in Source.objects.using(schema_editor.connection.alias).only("pk", "headers_plain"):
        source.headers = source.headers_plain if isinstance(source.headers_plain, dict) else {}
        source.save(update_fields=["headers"])


def decrypt_headers(apps, schema_editor):
    Source = apps.get_model("scrapers", "Source")
    for source in Source.objects.using(schema_editor.connection.alias).only("pk", "name", "headers"):
        source.headers_plain = dict(source.headers or {})
        source.save(update_fields=["headers_plain"])


class Migration(migrations.Migration):
    dependencies = [("scrapers", "0016_field_names_translated")]

    operations = [
        migrations.RenameField(model_name="source", old_name="headers", new_name="headers_plain"),
        migrations.AddField(
            model_name="source",
            name="headers",
            field=scheduler.shared.fields.EncryptedJSONField(blank=True, default=dict, verbose_name="Headers"),
        ),
        migrations.RunPython(encrypt_headers, decrypt_headers),
        migrations.RemoveField(model_name="source", name="headers_plain"),
    ]
