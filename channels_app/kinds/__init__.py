"""Importing this package registers the built-in channel kinds."""

from channels_app.kinds import apprise, email, outbox, webhook, wuzapi  # noqa: F401
