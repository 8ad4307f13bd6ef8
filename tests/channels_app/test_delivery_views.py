"""The delivery pages: the keyset-paged list and its filters, one delivery (escaped), and retry."""

import pytest
from django.urls import reverse

from channels_app.models import Channel, Delivery, Event, Recipient

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, *args):
    return reverse(f"channels_app:{name}", args=args)


@pytest.fixture
def channels(db):
    whatsapp = Channel.objects.create(name="WhatsApp", kind="wuzapi", secrets={"token": "never-shown-9"})
    mail = Channel.objects.create(name="Mail", kind="outbox")
    return {
        "whatsapp": Recipient.objects.create(channel=whatsapp, address="5511987654321", label="Ana"),
        "mail": Recipient.objects.create(channel=mail, address=""),
    }


def deliver(recipient, status="sent", payload=None, **fields):
    event = Event.objects.create(topic="source:1", type="item.new", payload=payload or {"title": "Edital"})
    return Delivery.objects.create(event=event, recipient=recipient, status=status, body="text", **fields)


def shown(body):
    """The delivery ids listed on a page."""
    return [int(part.split("/")[0]) for part in body.split('href="/deliveries/')[1:] if part[0].isdigit()]


def test_anonymous_visitors_are_sent_to_the_login(client, channels):
    row = deliver(channels["whatsapp"])
    for target in [url("deliveries"), url("delivery", row.pk), url("delivery_retry", row.pk)]:
        response = client.get(target)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_the_list_shows_the_newest_first_without_a_query_per_row(
    viewer_client, channels, django_assert_max_num_queries
):
    rows = [
        deliver(channels["whatsapp" if n % 2 else "mail"], error="<b>boom</b>" if n == 3 else "") for n in range(30)
    ]
    with django_assert_max_num_queries(5):
        response = viewer_client.get(url("deliveries"))
    body = response.content.decode()
    assert response.status_code == 200
    assert shown(body) == [row.pk for row in reversed(rows)]
    assert "WhatsApp" in body and "Ana" in body and "item.new" in body and "Sent" in body
    assert "&lt;b&gt;boom&lt;/b&gt;" in body and "<b>boom</b>" not in body
    assert "never-shown-9" not in body


def test_pages_go_on_by_keyset(viewer_client, channels):
    rows = [deliver(channels["mail"]) for _ in range(60)]
    body = viewer_client.get(url("deliveries") + "?status=sent").content.decode()
    assert shown(body) == [row.pk for row in reversed(rows[10:])]
    assert f"status=sent&amp;before={rows[10].pk}" in body

    older = viewer_client.get(url("deliveries") + f"?status=sent&before={rows[10].pk}").content.decode()
    assert shown(older) == [row.pk for row in reversed(rows[:10])] and "before=" not in older.split("pager")[-1]


def test_the_status_and_channel_filters(viewer_client, channels):
    dead = deliver(channels["whatsapp"], status="dead")
    deliver(channels["whatsapp"], status="sent")
    mail_dead = deliver(channels["mail"], status="dead")
    whatsapp = channels["whatsapp"].channel_id

    assert shown(viewer_client.get(url("deliveries") + "?status=dead").content.decode()) == [mail_dead.pk, dead.pk]
    both = viewer_client.get(url("deliveries") + f"?status=dead&channel={whatsapp}").content.decode()
    assert shown(both) == [dead.pk]
    # Unknown values are no filter, not an error.
    assert len(shown(viewer_client.get(url("deliveries") + "?status=nope&channel=x&before=y").content.decode())) == 3


def test_htmx_filtering_gets_the_rows_only(viewer_client, channels):
    deliver(channels["whatsapp"], status="dead")
    response = viewer_client.get(url("deliveries") + "?status=dead", **HTMX)
    body = response.content.decode()
    assert 'id="delivery-rows"' in body and "<html" not in body and len(shown(body)) == 1


def test_the_delivery_page_shows_attempts_error_key_and_an_escaped_payload(viewer_client, channels):
    row = deliver(
        channels["whatsapp"],
        status="dead",
        attempts=5,
        error="Wuzapi <said> no",
        payload={"title": "<script>alert(1)</script>", "n": 1},
        provider_id="ABC",
    )
    response = viewer_client.get(url("delivery", row.pk))
    body = response.content.decode()
    assert response.status_code == 200
    assert f"vigia-{row.pk}" in body and "Wuzapi &lt;said&gt; no" in body and "ABC" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert" not in body
    assert "Dead (retries exhausted)" in body and "never-shown-9" not in body
    assert "<dd>5</dd>" in body


def test_a_long_payload_is_cut(viewer_client, channels):
    row = deliver(channels["mail"], payload={"text": "x" * 10_000})
    body = viewer_client.get(url("delivery", row.pk)).content.decode()
    assert "x" * 3000 in body and "x" * 5000 not in body and "…" in body


def test_unknown_deliveries_are_404(staff_client, db):
    assert staff_client.get(url("delivery", 999)).status_code == 404
    assert staff_client.post(url("delivery_retry", 999)).status_code == 404


def test_retry_revives_a_dead_delivery(staff_client, channels):
    row = deliver(channels["whatsapp"], status="dead", attempts=5, error="gone")
    assert "Retry</button>" in staff_client.get(url("delivery", row.pk)).content.decode()

    response = staff_client.post(url("delivery_retry", row.pk))

    assert response.status_code == 302 and response.url == url("delivery", row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.error) == ("pending", 0, "")


def test_retry_over_htmx_redirects_the_client(staff_client, channels):
    row = deliver(channels["whatsapp"], status="failed")
    response = staff_client.post(url("delivery_retry", row.pk), **HTMX)
    assert response["HX-Redirect"] == url("delivery", row.pk)
    assert Delivery.objects.get(pk=row.pk).status == "pending"


def test_a_sent_delivery_is_not_retried(staff_client, channels):
    row = deliver(channels["whatsapp"], status="sent")
    assert "Retry</button>" not in staff_client.get(url("delivery", row.pk)).content.decode()
    response = staff_client.post(url("delivery_retry", row.pk), follow=True)
    assert "Only failed and dead deliveries can be retried." in response.content.decode()
    assert Delivery.objects.get(pk=row.pk).status == "sent"


def test_a_viewer_may_not_retry(viewer_client, channels):
    row = deliver(channels["whatsapp"], status="dead")
    assert viewer_client.post(url("delivery_retry", row.pk)).status_code == 403
    assert "Retry</button>" not in viewer_client.get(url("delivery", row.pk)).content.decode()
    assert Delivery.objects.get(pk=row.pk).status == "dead"
