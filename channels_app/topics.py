"""Topics in words: what `source:12`, `person:45`, `job:7:failed`, `sources:broken` or `*` name, which events
are published on each, and whether the object named exists.

A subscription's topic stays a plain string (channels_app.events matches it), but nobody types one: the domain
apps register a *family* per kind of object (its prefix, a lookup of names and links, its events in words)
and the *patterns* they publish on, so this app never imports them (scrapers.topics registers sources and
people; the jobs' family is registered below, this app already depends on the scheduler).
"""

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

TOPIC = re.compile(r"^(\*|[A-Za-z0-9_-]+:[A-Za-z0-9_:*.-]+)$")
EVERYTHING = "*"
LIMIT = 1000  # a form offers this many objects of each family

# (words, event types): one checkbox may stand for several types ("Source broken or recovered").
Events = Sequence[tuple["StrOrPromise", tuple[str, ...]]]
# ids -> {id: (name, url)} in one query; None: the ones a form offers (at most LIMIT, by name).
Lookup = Callable[[Collection[int] | None], dict[int, tuple[str, str | None]]]


@dataclass(frozen=True)
class Family:
    prefix: str  # "source": its topics are source:<id><suffix>
    noun: "StrOrPromise"  # "Source" in "Source: Gincana 2026"
    plural: "StrOrPromise"  # the select's group
    any_label: "StrOrPromise"  # its pattern, <prefix>:*<suffix>: "Any source"
    lookup: Lookup
    events: Events
    suffix: str = ""  # ":failed" for jobs
    order: int = 50  # forms list the families by this, then by prefix

    def topic(self, pk: object) -> str:
        return f"{self.prefix}:{pk}{self.suffix}"


@dataclass(frozen=True)
class Pattern:
    topic: str
    label: "StrOrPromise"
    events: Events
    covers: str = ""  # the family whose objects' pages show it as "via …" (sources:broken covers sources)


_families: dict[str, Family] = {}
_patterns: dict[str, Pattern] = {}


def register_family(family: Family) -> Family:
    ordered = sorted([*_families.values(), family], key=lambda known: (known.order, known.prefix))
    _families.clear()
    _families.update((known.prefix, known) for known in ordered)
    pattern = Pattern(family.topic("*"), family.any_label, family.events, covers=family.prefix)
    _patterns[pattern.topic] = pattern
    return family


def register_pattern(pattern: Pattern) -> Pattern:
    _patterns[pattern.topic] = pattern
    return pattern


def pattern(topic: str) -> Pattern | None:
    """The registered pattern named `topic` (`sources:broken`, `source:*`), or None."""
    return _patterns.get(topic)


def parse(topic: str) -> tuple[Family, int] | None:
    """(family, id) of an object's topic (`source:12`), None for anything else."""
    prefix, _sep, rest = topic.partition(":")
    family = _families.get(prefix)
    if family is None or not rest.endswith(family.suffix):
        return None
    pk = rest.removesuffix(family.suffix) if family.suffix else rest
    return (family, int(pk)) if pk.isascii() and pk.isdigit() and len(pk) < 19 else None


def topic_for(prefix: str, pk: object) -> str:
    """An object's topic: topic_for("job", 7) == "job:7:failed"."""
    return _families[prefix].topic(pk)


def all_events() -> list[tuple["StrOrPromise", tuple[str, ...]]]:
    """Every event a subscription can name, in words, once each."""
    found: dict[tuple[str, ...], StrOrPromise] = {}
    for events in [family.events for family in _families.values()] + [p.events for p in _patterns.values()]:
        for words, types in events:
            found.setdefault(types, words)
    return [(words, types) for types, words in found.items()]


def events(topic: str) -> Events | None:
    """The events published on `topic` (a pattern's: those of what it matches); None when unknown."""
    if topic == EVERYTHING:
        return all_events()
    if topic in _patterns:
        return _patterns[topic].events
    parsed = parse(topic)
    return parsed[0].events if parsed else None


def event_types(topic: str) -> list[str]:
    """The event types published on `topic`, flat; none when it is unknown."""
    return [name for _words, names in events(topic) or [] for name in names]


def validate(topic: str) -> str:
    """The topic, stripped, or a ValidationError: malformed, a reserved prefix used wrongly, or an object that
    does not exist. Other services' topics (`api:my-app`) pass: nothing here knows them."""
    topic = topic.strip()
    if topic in _patterns:  # registered words, such as `system`
        return topic
    if not TOPIC.match(topic):
        raise ValidationError(
            _("A topic is * or name:value (source:12, job:*:failed) made of letters, digits and : * _ - .")
        )
    if topic == EVERYTHING or topic in _patterns:
        return topic
    prefix = topic.partition(":")[0]
    parsed = parse(topic)
    if parsed is None:
        reserved = {family.prefix for family in _families.values()} | {p.partition(":")[0] for p in _patterns}
        if prefix in reserved:
            raise ValidationError(_("“%(topic)s” is not one of the topics offered.") % {"topic": topic})
        return topic
    family, pk = parsed
    if pk not in family.lookup([pk]):
        raise ValidationError(_("%(noun)s #%(id)s does not exist.") % {"noun": family.noun, "id": pk})
    return topic


def check_event_types(topic: str, types: Iterable[str]) -> None:
    """A ValidationError naming, in words, the event types `topic` never publishes."""
    if events(topic) is None:
        return
    allowed = set(event_types(topic))
    never = [name for name in types if name not in allowed]
    if never:
        raise ValidationError(
            _("Never published on %(topic)s: %(events)s.")
            % {"topic": describe([topic])[topic][0], "events": in_words(never)}
        )


def in_words(types: Sequence[str]) -> str:
    """A subscription's event types in words ("New item, Changed item"); none: "all events"."""
    if not types:
        return _("all events")
    left, words = list(types), []
    for label, names in all_events():
        if set(names) <= set(left):
            words.append(str(label))
            left = [name for name in left if name not in names]
    return ", ".join(words + left)


def describe(batch: Iterable[str]) -> dict[str, tuple[str, str | None]]:
    """{topic: (label in words, url or None)}: one lookup per family for the whole batch."""
    topics = list(dict.fromkeys(batch))
    wanted: dict[str, dict[int, str]] = {}
    found: dict[str, tuple[str, str | None]] = {}
    for topic in topics:
        if topic == EVERYTHING:
            found[topic] = (_("Everything"), None)
        elif topic in _patterns:
            found[topic] = (str(_patterns[topic].label), None)
        elif parsed := parse(topic):
            wanted.setdefault(parsed[0].prefix, {})[parsed[1]] = topic
        else:
            found[topic] = (topic, None)
    for prefix, by_id in wanted.items():
        family = _families[prefix]
        named = family.lookup(list(by_id))
        for pk, topic in by_id.items():
            if pk in named:
                name, url = named[pk]
                found[topic] = (_("%(noun)s: %(name)s") % {"noun": family.noun, "name": name}, url)
            else:
                found[topic] = (_("%(noun)s #%(id)s (deleted)") % {"noun": family.noun, "id": pk}, None)
    return {topic: found[topic] for topic in topics}


def covering(topic: str) -> list[str]:
    """The patterns whose subscribers hear of this object's events (`*`, `source:*`, `sources:broken`)."""
    parsed = parse(topic)
    if parsed is None:
        return []
    return [EVERYTHING] + [p.topic for p in _patterns.values() if p.covers == parsed[0].prefix]


def choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The topics a form offers, grouped: the patterns, then each family's objects by name."""
    ordered = sorted(_patterns.values(), key=_pattern_order)
    patterns = [(EVERYTHING, _("Everything"))] + [(p.topic, str(p.label)) for p in ordered]
    groups = [(_("Patterns"), patterns)]
    for family in _families.values():
        objects = family.lookup(None)
        groups.append((str(family.plural), [(family.topic(pk), name) for pk, (name, _url) in objects.items()]))
    return groups


def _pattern_order(pattern: Pattern) -> tuple[int, int, str]:
    """A family's "Any source" first, in the families' order; then the other patterns as registered."""
    family = _families.get(pattern.covers)
    if family is not None and pattern.topic == family.topic("*"):
        return (0, family.order, family.prefix)
    return (1, 0, "")


# --- the jobs' family (a job's failures; a source's check job has its own broken/recovered events) ----------


def _jobs(ids: Collection[int] | None) -> dict[int, tuple[str, str | None]]:
    from scheduler.models import Job
    from scheduler.system_jobs import display_name

    jobs = Job.objects.order_by("name")
    if ids is None:  # a source's or a person's job: subscribe to the source or the person instead
        rows = jobs.exclude(kind__in=["check_person", "check_source"])[:LIMIT]
    else:
        rows = jobs.filter(pk__in=ids)
    rows = rows.only("pk", "name", "external_service", "external_key")
    return {job.pk: (str(display_name(job)), reverse("scheduler:job", args=[job.pk])) for job in rows}


register_family(
    Family(
        prefix="job",
        suffix=":failed",
        noun=gettext_lazy("Job"),
        plural=gettext_lazy("Jobs"),
        any_label=gettext_lazy("Any job failing"),
        lookup=_jobs,
        events=[
            (gettext_lazy("Run failed"), ("job.failed", "job.still_failing", "job.recovered")),
            (gettext_lazy("No success in time"), ("job.late", "job.still_late", "job.on_time")),
        ],
        order=90,  # after the domain's families
    )
)


# --- the channels' family (a channel down alerts the other channels) and the watchdog's `system` ----------------


def _channels(ids: Collection[int] | None) -> dict[int, tuple[str, str | None]]:
    from channels_app.models import Channel

    rows = Channel.objects.order_by("name")
    rows = rows[:LIMIT] if ids is None else rows.filter(pk__in=ids)
    return {pk: (name, reverse("channels_app:channel", args=[pk])) for pk, name in rows.values_list("pk", "name")}


CHANNEL_DOWN = (gettext_lazy("Channel down or back"), ("channel.down", "channel.still_down", "channel.recovered"))
register_family(
    Family(
        prefix="channel",
        noun=gettext_lazy("Channel"),
        plural=gettext_lazy("Channels"),
        any_label=gettext_lazy("Any channel down"),
        lookup=_channels,
        events=[CHANNEL_DOWN],
        order=95,
    )
)
register_pattern(Pattern("channels:down", gettext_lazy("Any channel down or back"), [CHANNEL_DOWN], covers="channel"))
SYSTEM = "system"
register_pattern(
    Pattern(
        SYSTEM,
        gettext_lazy("Vigia itself (watchdog)"),
        [
            (
                gettext_lazy("Vigia alert or back to normal"),
                ("system.alert", "system.still_alerting", "system.recovered"),
            )
        ],
    )
)
