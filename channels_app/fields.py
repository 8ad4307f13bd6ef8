"""Kept for the migrations written before the encrypted field moved to the shared layer: they name
`channels_app.fields.EncryptedJSONField`. The field lives in scheduler.shared.fields."""

from scheduler.shared.fields import EncryptedJSONField, Sealed, Secrets, SecretValue

__all__ = ["EncryptedJSONField", "Sealed", "SecretValue", "Secrets"]
