"""The dashboard's run history (filters, keyset pages on (scheduled_for, id), bounded queries) and run page
(timeline, attempts, escaped error and traceback, live status that stops polling once final)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from scheduler.models import Run
from tests.support.factories import make_job

RUNS = reverse("scheduler:runs")
HTMX = {"HTTP_HX_REQUEST": "true"}
BASE = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)  # 09:00 in São Paulo


@pytest.fixture(autouse=True)
def _local_zone(settings):
    settings.TIME_ZONE = "America/Sao_Paulo"  # UTC−3, no DST


def add_run(job, at=BASE, status="succeeded", attempt=1, **fields):
    return Run.objects.create(job=job, scheduled_for=at, due_at=at, status=status, attempt=attempt, **fields)


def run_url(run):
    return reverse("scheduler:run", args=[run.pk])


def listed(client, **params):
    return [run.pk for run in client.get(RUNS, params).context["rows"]]


def test_pages_need_a_login(db, client):
    run = add_run(make_job())
    for url in (RUNS, run_url(run)):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_unknown_run_is_404(db, viewer_client):
    assert viewer_client.get(reverse("scheduler:run", args=[424242])).status_code == 404


def test_history_lists_newest_first_with_job_status_and_trigger(db, viewer_client):
    job = make_job(name="hist <i>")
    old = add_run(job, BASE - timedelta(hours=1), "failed", trigger="manual")
    new = add_run(job, BASE, "succeeded")
    response = viewer_client.get(RUNS)
    body = response.content.decode()
    assert [run.pk for run in response.context["rows"]] == [new.pk, old.pk]
    assert "hist &lt;i&gt;" in body and 'class="badge failed"' in body and "Manual" in body
    assert "2030-06-15 09:00" in body  # the operator's clock


def test_history_filters(db, viewer_client):
    one, two = make_job(), make_job()
    a = add_run(one, BASE, "failed", trigger="manual")
    b = add_run(two, BASE - timedelta(days=1), "succeeded")
    c = add_run(one, BASE - timedelta(days=2), "succeeded", trigger="api")
    assert listed(viewer_client, job=one.pk) == [a.pk, c.pk]
    assert listed(viewer_client, status="succeeded") == [b.pk, c.pk]
    assert listed(viewer_client, trigger="api") == [c.pk]
    assert listed(viewer_client, since="2030-06-14") == [a.pk, b.pk]
    assert listed(viewer_client, until="2030-06-14") == [b.pk, c.pk]
    assert listed(viewer_client, since="2030-06-14", until="2030-06-14") == [b.pk]
    assert listed(viewer_client, status="bogus") == [a.pk, b.pk, c.pk]  # a bad filter is ignored, not a 500
    assert listed(viewer_client, job="x") == [a.pk, b.pk, c.pk]


def test_since_and_until_are_days_on_the_operators_clock(db, viewer_client):
    job = make_job()
    late = add_run(job, datetime(2030, 6, 15, 2, 30, tzinfo=UTC))  # 14 June 23:30 in São Paulo
    assert listed(viewer_client, since="2030-06-15") == []
    assert listed(viewer_client, until="2030-06-14") == [late.pk]


def test_filtering_by_job_names_it(db, viewer_client):
    job = make_job(name="named job")
    add_run(job)
    assert "named job" in viewer_client.get(RUNS, {"job": job.pk}).content.decode().split("</h1>")[0]


def test_runs_are_filtered_by_the_jobs_name_with_suggestions_as_one_types(db, viewer_client):
    nightly, hourly = make_job(name="Relatório noturno"), make_job(name="Checagem horária <b>")
    a, b = add_run(nightly, BASE), add_run(hourly, BASE - timedelta(hours=1))
    assert listed(viewer_client, job_name="Relatório noturno") == [a.pk]
    linked = viewer_client.get(RUNS, {"job": hourly.pk})  # "All runs of this job" links by id…
    assert [run.pk for run in linked.context["rows"]] == [b.pk]
    assert 'value="Checagem horária &lt;b&gt;"' in linked.content.decode()  # …and the field shows the name

    unknown = viewer_client.get(RUNS, {"job_name": "Relatório diário"})
    assert unknown.status_code == 200
    assert "No job is named “Relatório diário”." in unknown.content.decode()
    for hostile in ("a\x00b", "x" * 500):
        assert viewer_client.get(RUNS, {"job_name": hostile}).status_code == 200
    assert viewer_client.get(f"{RUNS}?job_name=%ED%A0%80").status_code == 200  # an encoded lone surrogate

    names = viewer_client.get(reverse("scheduler:job_names"), {"job_name": "ch"}).content.decode()
    assert '<option value="Checagem horária &lt;b&gt;">' in names and "noturno" not in names
    assert "<option" not in viewer_client.get(reverse("scheduler:job_names"), {"job_name": "a\x00"}).content.decode()
    assert viewer_client.get(reverse("scheduler:job_names")).status_code == 200


def test_keyset_pages_walk_every_row_once_even_with_equal_times(db, viewer_client):
    job, other = make_job(), make_job()
    ids = set()
    for n in range(60):  # pairs share a scheduled_for: the id breaks the tie
        ids.add(add_run(job if n % 2 else other, BASE - timedelta(minutes=n // 2)).pk)
    seen, params, pages = [], {}, 0
    while True:
        response = viewer_client.get(RUNS, params)
        seen += [run.pk for run in response.context["rows"]]
        pages += 1
        if not response.context["next_after"]:
            break
        params = {"after": response.context["next_after"]}
        assert "after=" in response.content.decode()
    assert pages == 2 and len(seen) == 60 and set(seen) == ids


def test_cursor_keeps_filters_and_survives_garbage(db, viewer_client):
    job = make_job()
    for n in range(55):
        add_run(job, BASE - timedelta(minutes=n), "failed")
    first = viewer_client.get(RUNS, {"status": "failed"})
    body = first.content.decode()
    assert "status=failed&amp;after=" in body
    assert "%2B00%3A00" in body  # the "+" of the offset is encoded in the link
    second = viewer_client.get(RUNS, {"status": "failed", "after": first.context["next_after"]})
    assert len(second.context["rows"]) == 5
    assert len(viewer_client.get(RUNS, {"after": "nonsense"}).context["rows"]) == 50
    assert len(viewer_client.get(RUNS, {"after": "2030-06-15T12:00:00_x"}).context["rows"]) == 50


def test_history_uses_no_offset_and_no_count(db, viewer_client, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    jobs = [make_job() for _ in range(6)]
    for n in range(60):
        add_run(jobs[n % 6], BASE - timedelta(minutes=n))
    with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(4):
        response = viewer_client.get(RUNS, {"after": f"{BASE.isoformat()}_999999"})
    assert len(response.context["rows"]) == 50
    sql = " ".join(query["sql"].upper() for query in queries.captured_queries)
    assert "OFFSET" not in sql and "COUNT(" not in sql
    assert '"PARAMS"' not in sql  # only() keeps the job's big columns out


def test_history_fragment_for_htmx(db, viewer_client):
    add_run(make_job(name="frag"))
    body = viewer_client.get(RUNS, **HTMX).content.decode()
    assert 'id="run-rows"' in body and "frag" in body and "<html" not in body


def test_run_page_shows_timeline_result_and_escaped_error(db, viewer_client, django_assert_max_num_queries):
    job = make_job(name="page job")
    run = add_run(
        job,
        status="failed",
        trigger="schedule",
        queued_at=BASE,
        started_at=BASE + timedelta(seconds=1),
        finished_at=BASE + timedelta(seconds=3),
        duration_ms=2000,
        worker="host-1:42",
        result={"rows": 3},
        error="<script>alert(1)</script>",
        traceback='Traceback (most recent call last):\n  File "<x>"\nValueError: <bad>',
    )
    with django_assert_max_num_queries(5):
        body = viewer_client.get(run_url(run)).content.decode()
    assert "page job" in body and "host-1:42" in body and "2000 ms" in body
    assert "2030-06-15 09:00:01" in body and "2030-06-15 09:00:03" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert" not in body
    assert "ValueError: &lt;bad&gt;" in body and "<pre>" in body
    assert "&quot;rows&quot;: 3" in body
    assert "hx-trigger" not in body  # final: no polling


def test_run_page_lists_the_attempts_of_the_same_occurrence(db, viewer_client):
    job = make_job()
    first = add_run(job, status="failed", error="planned failure 1")
    second = add_run(job, status="retrying", attempt=2, trigger="retry")
    add_run(job, BASE - timedelta(hours=1))  # another occurrence: not an attempt of this one
    response = viewer_client.get(run_url(second))
    body = response.content.decode()
    assert [a.attempt for a in response.context["attempts"]] == [1, 2]
    assert run_url(first) in body and "planned failure 1" in body


def test_live_status_polls_while_active_and_stops_when_final(db, viewer_client):
    run = add_run(make_job(), status="queued")
    body = viewer_client.get(run_url(run)).content.decode()
    assert f'hx-get="{run_url(run)}"' in body and 'hx-trigger="every 2s"' in body
    fragment = viewer_client.get(run_url(run), **HTMX).content.decode()
    assert "<html" not in fragment and 'hx-trigger="every 2s"' in fragment and 'class="badge queued"' in fragment
    Run.objects.filter(pk=run.pk).update(status="running", started_at=BASE)
    assert 'class="badge running"' in viewer_client.get(run_url(run), **HTMX).content.decode()
    Run.objects.filter(pk=run.pk).update(status="succeeded", finished_at=BASE, result={"ok": True})
    final = viewer_client.get(run_url(run), **HTMX).content.decode()
    assert 'class="badge succeeded"' in final and "hx-trigger" not in final and "hx-get" not in final


def test_live_fragment_queries_are_few(db, viewer_client, django_assert_max_num_queries):
    run = add_run(make_job(), status="running")
    with django_assert_max_num_queries(3):  # session, user, the run with its job
        viewer_client.get(run_url(run), **HTMX)


def test_compact_fragment_for_the_job_page(db, viewer_client):
    run = add_run(make_job(), status="running", result={"big": "x"})
    body = viewer_client.get(run_url(run) + "?compact=1", **HTMX).content.decode()
    assert "?compact=1" in body and "Result" not in body
