"""The overview's "check now" buttons: queue one check of every person or every enabled source at once."""

from scheduler import services
from scheduler.models import Run
from scrapers import people, sources
from scrapers.models import Source


def check_all_people():
    """Every monitored person (scrapers.people.force_sync); people with a check already waiting are skipped."""
    return people.force_sync()


def check_all_sources():
    """One manual run of every enabled source's check_source job; sources with a run waiting are skipped."""
    enabled = Source.objects.filter(enabled=True).select_related("job").order_by("pk")
    jobs = [source.job or sources.sync_job(source) for source in enabled]
    return services.run_many(jobs, trigger=Run.Trigger.MANUAL)
