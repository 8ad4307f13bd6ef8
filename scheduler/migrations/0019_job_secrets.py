"""Job.secrets: the values of a kind's secret params, encrypted at rest (scheduler.shared.crypto). An http_request
job's header values move there from Job.params, which keep the names each with "********" (scheduler.job_kinds.seal).
Reversible: going back puts the values into the params again (which needs the key)."""

from django.db import migrations

import scheduler.shared.fields

MASK = "********"
KINDS = {"http_request": ("headers",)}  # the kinds' secret_params when this was written


def seal(apps, schema_editor):
    Job = apps.get_model("scheduler", "Job")
    for job in Job.objects.using(schema_editor.connection.alias).filter(kind__in=KINDS).only("pk", "kind", "params"):
        params, secrets = dict(job.params) if isinstance(job.params, dict) else {}, {}
        for key in KINDS[job.kind]:
            value = params.get(key)
            if isinstance(value, dict) and value:
                secrets[key], params[key] = dict(value), {name: MASK for name in value}
            else:
                params.pop(key, None)
        if secrets:
            job.params, job.secrets = params, secrets
            job.save(update_fields=["params", "secrets"])


def unseal(apps, schema_editor):
    Job = apps.get_model("scheduler", "Job")
    for job in Job.objects.using(schema_editor.connection.alias).filter(kind__in=KINDS).only("pk", "kind", "params"):
        secrets = job.secrets or {}
        if not secrets:
            continue
        params = dict(job.params) if isinstance(job.params, dict) else {}
        for key in KINDS[job.kind]:
            if isinstance(params.get(key), dict):
                stored = secrets.get(key) or {}
                params[key] = {name: stored.get(name, value) for name, value in params[key].items()}
        job.params = params
        job.save(update_fields=["params"])


class Migration(migrations.Migration):
    dependencies = [("scheduler", "0018_roles")]

    operations = [
        migrations.AddField(
            model_name="job",
            name="secrets",
            field=scheduler.shared.fields.EncryptedJSONField(
                blank=True, default=dict, editable=False, verbose_name="Secrets"
            ),
        ),
        migrations.RunPython(seal, unseal),
    ]
