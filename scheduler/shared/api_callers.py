"""Who calls the API and what it may do: the scopes and the Caller. Apart from scheduler.shared.api so that the
models, the token forms and the messages service can name them without loading the API's machinery (ninja,
pydantic, jsonschema) into every worker."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

RESOURCES = ("jobs", "people", "sources", "messages", "queue")
SCOPES = tuple(f"{resource}:{level}" for resource in RESOURCES for level in ("read", "write"))


@dataclass(frozen=True)
class Caller:
    """Who is calling: one of Vigia's API tokens or a JWT from a configured issuer.

    `key` names the caller for ownership ("token:5", "jwt:<issuer>:<subject>"): a (service, key) pair created by
    one caller is another caller's 409. `channels` (None: any) and `addresses` (fnmatch patterns; empty: any)
    limit where its messages may go. `callback_secret` signs its callbacks."""

    key: str
    name: str
    scopes: frozenset[str]
    token_id: int | None = None
    channels: frozenset[str] | None = None
    addresses: tuple[str, ...] = ()
    callback_secret: str = ""
    rate_per_minute: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def allows(self, resource: str, write: bool = False) -> bool:
        return f"{resource}:write" in self.scopes or (not write and f"{resource}:read" in self.scopes)
