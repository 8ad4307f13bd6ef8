"""`python manage.py create_api_token <name>`: a new API token, printed once."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_app import tokens
from channels_app.models import ApiToken
from scheduler.shared import bounds


class Command(BaseCommand):
    help = "Create an API token for a client or service and print it. Only its hash is stored: copy it now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Which client or service holds it (unique).")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        name = name.strip()
        if not name:
            raise CommandError("Give the token a name.")
        if problem := bounds.json_problem(name):  # NUL, or bytes argv could not decode (lone surrogates)
            raise CommandError(f"The name cannot be stored: {problem}")
        limit = ApiToken._meta.get_field("name").max_length
        assert limit is not None  # a CharField has one
        if len(name) > limit:
            raise CommandError(f"The name is {len(name)} characters long: use at most {limit}.")
        if ApiToken.objects.filter(name=name).exists():
            raise CommandError(f"A token named {name!r} already exists (revoke it in the admin to replace it).")
        _, raw = tokens.create(name)
        self.stdout.write(raw)
        self.stderr.write(f"The token for {name} is above. Copy it now: it cannot be shown again.")
