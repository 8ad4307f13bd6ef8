"""`python manage.py create_api_token NAME [--scope S ...] [--all-scopes] [--expires 90d|2027-01-31]
[--channel NAME ...] [--address PATTERN ...] [--rate N]`: a new API token, printed once.

The arguments are checked by the same form as the dashboard's tokens page and the admin
(channels_app.forms_tokens.ApiTokenForm): a refused argument is a CommandError and nothing is created.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from channels_app import tokens
from channels_app.forms_tokens import ApiTokenForm, parse_expiry
from scheduler.shared.api_callers import SCOPES

OPTIONS = {
    "name": "NAME",
    "scopes": "--scope",
    "expires_at": "--expires",
    "channels": "--channel",
    "addresses": "--address",
    "rate_per_minute": "--rate",
}


class Command(BaseCommand):
    help = (
        "Create an API token for a client or service and print it on stdout (its callback secret on stderr). "
        "Only its hash is stored: copy both now, they are shown once. Without --scope (or --all-scopes) it "
        f"gets the messages scopes ({' '.join(tokens.DEFAULT_SCOPES)}), as tokens did before scopes existed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Which client or service holds it (unique).")
        which = parser.add_mutually_exclusive_group()
        which.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            metavar="SCOPE",
            help=f"What it may do; repeat for more; write implies read. One of: {', '.join(SCOPES)}. "
            f"Default: {' '.join(tokens.DEFAULT_SCOPES)}.",
        )
        which.add_argument("--all-scopes", action="store_true", help="Every scope (read and write everything).")
        parser.add_argument(
            "--expires",
            metavar="WHEN",
            help="When it stops working: a duration from now (90d, 12h, 2w), a date (2027-01-31: its first "
            "moment in TIME_ZONE) or an ISO 8601 date and time. Default: never.",
        )
        parser.add_argument(
            "--channel",
            action="append",
            dest="channels",
            metavar="NAME",
            help="A channel its messages may go through; repeat for more. Default: any.",
        )
        parser.add_argument(
            "--address",
            action="append",
            dest="addresses",
            metavar="PATTERN",
            help="An address pattern its messages may go to ('5511*', '*@example.org'); repeat for more. Default: any.",
        )
        parser.add_argument(
            "--rate",
            type=int,
            metavar="N",
            help="At most N requests a minute. Default: VIGIA_API_RATE_PER_MINUTE.",
        )

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        expires_at = None
        if options.get("expires") is not None:
            try:
                expires_at = parse_expiry(options["expires"])
            except ValueError as exc:
                raise CommandError(f"--expires: {exc}") from None
        scopes = list(SCOPES) if options.get("all_scopes") else options.get("scopes") or list(tokens.DEFAULT_SCOPES)
        form = ApiTokenForm(
            data={
                "name": name,
                "scopes": scopes,
                "expires_at": expires_at,
                "channels": options.get("channels") or [],
                "addresses": options.get("addresses") or [],
                "rate_per_minute": options.get("rate"),
            }
        )
        if not form.is_valid():
            problems = [
                f"{OPTIONS.get(field, field)}: {message}"
                for field, messages in form.errors.items()
                for message in messages
            ]
            raise CommandError(" ".join(problems))
        token, raw = form.create()
        self.stdout.write(raw)
        self.stderr.write(
            f"Callback secret (signs the callbacks of what it creates): {token.callback_secret['secret']}"
        )
        self.stderr.write(f"Scopes: {' '.join(token.scopes)}")
        limits = [
            f"expires {timezone.localtime(token.expires_at):%Y-%m-%d %H:%M %Z}"
            if token.expires_at
            else "never expires",
            f"channels: {', '.join(token.channels)}" if token.channels else "any channel",
            f"addresses: {' '.join(token.addresses)}" if token.addresses else "any address",
            f"{token.rate_per_minute} requests a minute" if token.rate_per_minute else "the default rate",
        ]
        self.stderr.write("Limits: " + "; ".join(limits) + ".")
        self.stderr.write(
            f"The token for {token.name} is above, its callback secret on the first line here. Copy both now: "
            "they are shown once and cannot be shown again."
        )
