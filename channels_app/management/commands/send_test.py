"""`python manage.py send_test <channel id|name> [address]`: send one test message now and report the outcome.
It adds no recipient (channels_app.sendtest): to a recipient's address it is a delivery to that recipient."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_app.models import Channel, Delivery
from channels_app.sendtest import test_send


class Command(BaseCommand):
    help = (
        "Send a test message through a channel to one address, in this process, and print the outcome. "
        "Exits non-zero when the message was not sent (the delivery may still be retried by the workers)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("channel", help="The channel's id or name.")
        parser.add_argument("address", nargs="?", default="", help="Phone, group JID, e-mail; none for webhooks.")

    def handle(self, *args: Any, channel: str, address: str, **options: Any) -> None:
        found = Channel.objects.filter(name=channel).first()
        if found is None and channel.isdigit():
            found = Channel.objects.filter(pk=int(channel)).first()
        if found is None:
            raise CommandError(f"No channel {channel!r} (give its id or name).")
        try:
            delivery = test_send(found, address)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except KeyError as exc:  # the channel's kind is no longer registered
            raise CommandError(str(exc).strip("'\"")) from None
        who = delivery.recipient.address or "(no address)"
        # A saved delivery went to a recipient; an unsaved one to an address typed for the test (its Event).
        what = f"Delivery #{delivery.pk}" if delivery.pk else f"Test message (event #{delivery.event_id})"
        if delivery.status != Delivery.Status.SENT:
            raise CommandError(f"{what} to {who} via {found.name}: {delivery.get_status_display()}: {delivery.error}")
        self.stdout.write(f"{what} to {who} via {found.name}: sent (provider id {delivery.provider_id}).")
