"""What every dashboard view shares: the role checks for changes, full page vs HTMX fragment, and keyset
paging that stays fast on millions of rows (no OFFSET, no COUNT)."""

from collections.abc import Callable, Iterator, Mapping
from typing import Concatenate

from django.contrib.auth.models import User
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django_htmx.middleware import HtmxDetails

from scheduler.shared import bounds, roles


class Request(HttpRequest):
    """The request a dashboard view gets: HtmxMiddleware adds `htmx`, and LoginRequiredMiddleware lets
    only signed-in users through, so `user` is a real user (for type checkers; nothing changes at run time)."""

    htmx: HtmxDetails
    user: User


# Dashboard changes are POSTs gated by a role (scheduler.shared.roles); reading needs any login.
def operator_required[**P, R: HttpResponseBase](
    view: Callable[Concatenate[Request, P], R],
) -> Callable[Concatenate[Request, P], R]:
    """A change to the work (jobs, sources, people, runs): POST only, the operator role (or admin)."""
    return roles.role_required("operate", view)


def admin_required[**P, R: HttpResponseBase](
    view: Callable[Concatenate[Request, P], R],
) -> Callable[Concatenate[Request, P], R]:
    """A change to delivery or access (channels, recipients, subscriptions, templates, tokens, users)."""
    return roles.role_required("administer", view)


def render_page(
    request: Request, template: str, context: Mapping[str, object], partial: str | None = None, status: int = 200
) -> HttpResponse:
    """The whole page, or only `partial` (a `{% partialdef %}` of `template`) when HTMX asks for it."""
    if partial and request.htmx and not request.htmx.boosted:
        template = f"{template}#{partial}"
    return render(request, template, context, status=status)


class Page[M: Model]:
    """One page of a keyset-paged list, newest first by primary key. `?before=<pk>` pages on; a deep page
    costs the same as the first (an index range scan), and no total is counted."""

    def __init__(self, rows: list[M], size: int, before: int | None) -> None:
        self.rows = rows[:size]
        self.before = before
        self.next_before: int | None = self.rows[-1].pk if len(rows) > size else None

    def __iter__(self) -> Iterator[M]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def keyset_page[M: Model](queryset: QuerySet[M], request: HttpRequest, size: int = 50) -> Page[M]:
    """`queryset` ordered by -pk, cut at `?before=`; an unparsable cursor is the first page."""
    before = bounds.parse_id(request.GET.get("before", ""))
    if before is not None:
        queryset = queryset.filter(pk__lt=before)
    return Page(list(queryset.order_by("-pk")[: size + 1]), size, before)


def query_without(request: HttpRequest, *names: str) -> str:
    """The current query string minus `names` (for pager and filter links that keep the other filters)."""
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()
