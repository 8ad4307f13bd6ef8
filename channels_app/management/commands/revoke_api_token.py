"""`python manage.py revoke_api_token NAME`: the token stops working at once (401 on its next request)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from channels_app import tokens
from channels_app.models import ApiToken
from scheduler.shared import bounds


class Command(BaseCommand):
    help = (
        "Revoke an API token by its name: every request with it is refused from now on. A token cannot be "
        "restored; create a new one (create_api_token) to replace it. Revoking a revoked token changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The token's name (as create_api_token or the tokens page gave it).")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        name = name.strip()
        if not name or bounds.json_problem(name):
            raise CommandError("Give the name of an API token.")
        token = ApiToken.objects.filter(name=name).only("pk", "name", "revoked_at").first()
        if token is None:
            raise CommandError(f"No API token named {name!r}.")
        if token.revoked_at is not None:
            when = timezone.localtime(token.revoked_at)
            self.stdout.write(f"The token {token.name} was already revoked on {when:%Y-%m-%d %H:%M %Z}.")
            return
        tokens.revoke([token])
        self.stdout.write(f"Revoked the token {token.name}: it is refused from now on.")
