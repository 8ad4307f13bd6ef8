"""Re-encrypt every stored secret with the first key of VIGIA_ENCRYPTION_KEYS (after putting a new key first).

Each row is rewritten on its own, so a run can be repeated or interrupted safely; rows no key opens are
named and left as they are (the command then fails), the others are still rotated.
"""

from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Model

from scheduler.shared import crypto
from scheduler.shared.fields import EncryptedJSONField, Sealed


def encrypted_fields() -> Iterator[tuple[type[Model], EncryptedJSONField]]:
    """(model, field) for every EncryptedJSONField of every installed model."""
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedJSONField):
                yield model, field


def rotate_all() -> tuple[int, list[str]]:
    """(rotated count, [unreadable row descriptions])."""
    rotated, unreadable = 0, []
    # (`objects` is Django's manager of these models; the stubs' Model declares none)
    for model, field in encrypted_fields():
        for pk in model.objects.values_list("pk", flat=True).iterator():  # type: ignore[attr-defined]
            with transaction.atomic():
                sealed = model.objects.select_for_update().values_list(field.attname, flat=True).filter(pk=pk).first()  # type: ignore[attr-defined]
                if not isinstance(sealed, Sealed):  # gone meanwhile, or NULL
                    continue
                try:
                    token = crypto.rotate(sealed.token)
                except crypto.SecretsUnreadable:
                    row = model.objects.get(pk=pk)  # type: ignore[attr-defined]
                    unreadable.append(f"{field.name} of {model._meta.verbose_name_raw} '{row}' (#{pk})")
                    continue
                model.objects.filter(pk=pk).update(**{field.attname: Sealed(token)})  # type: ignore[attr-defined]
                rotated += 1
    return rotated, unreadable


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with the first key of VIGIA_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        if crypto.using_derived_key():
            self.stderr.write(
                "VIGIA_ENCRYPTION_KEYS is not set: encrypting with the key derived from SECRET_KEY. "
                f"Generate a key with: {crypto.GENERATE}"
            )
        rotated, unreadable = rotate_all()
        self.stdout.write(f"Re-encrypted {rotated} stored secret value(s) with the first key.")
        if unreadable:
            raise CommandError(
                f"No key opens {len(unreadable)} value(s), left unchanged: {', '.join(unreadable)}. "
                "Add the key they were encrypted with to VIGIA_ENCRYPTION_KEYS and run this again."
            )
