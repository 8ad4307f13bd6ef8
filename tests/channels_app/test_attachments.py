"""Attachments: the images and documents an item carries go with its message, each the way its channel does
best (Wuzapi's image and document endpoints, e-mail attachments, links for webhooks, Apprise and the outbox).
Each file is fetched once through the outbound guard, under a size cap and a type check; a file that cannot be
sent leaves the message text-only, with a note, and the reason recorded. Real servers on 127.0.0.1 throughout:
the organizer's files, the Wuzapi stand-in, an SMTP server, a webhook receiver."""

import base64
import email
import email.policy
import hashlib
import json
import struct
import zlib
from datetime import timedelta

import httpx
import pytest
from django.urls import reverse
from django.utils import timezone, translation

from channels_app import attachments, sending
from channels_app.events import publish
from channels_app.kinds import base as kinds
from channels_app.models import Attachment, Channel, Delivery
from scheduler import services
from scheduler.errors import PermanentError, TransientError
from scheduler.models import Job, Run
from scheduler.shared import recorded, retention
from scrapers import ratelimit
from scrapers.models import Source
from tests.channels_app.support import item_event, recipient
from tests.channels_app.test_kinds import SECRET, receiver
from tests.channels_app.test_kinds import smtp as smtp  # noqa: F401, PLC0414 - the SMTP stand-in fixture
from tests.loopback import organizer
from tests.loopback.server import LoopbackServer, Response
from tests.loopback.wuzapi import ANSWERS, FILE_ANSWERS
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db


def _png():
    """A real 1×1 PNG (what Wuzapi's image.Decode reads)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


PNG = _png()
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


@pytest.fixture
def files():
    """The organizer's file server."""
    with LoopbackServer() as server:
        server.respond("/mascote.png", body=PNG, headers={"Content-Type": "image/png"})
        server.respond("/regras.pdf", body=PDF, headers={"Content-Type": "application/pdf"})
        server.respond("/anim.gif", body=GIF, headers={"Content-Type": "image/gif"})
        server.respond("/download", body=PDF, headers={"Content-Type": "application/octet-stream"})
        server.respond("/fake.pdf", body=b"<html>login</html>", headers={"Content-Type": "application/pdf"})
        server.respond("/tool.exe", body=b"MZ\x90\x00", headers={"Content-Type": "application/x-msdownload"})
        server.respond("/big.png", body=PNG + b"\x00" * 5000, headers={"Content-Type": "image/png"})
        server.respond("/gone.png", status=404, body=b"not found")
        yield server


def file_requests(server, path):
    return [request for request in server.requests if request.path == path]


def event_with(*files_, **extra):
    return item_event(attachments=[{"url": url, "name": name} for url, name in files_], **extra)


def one_delivery(channel, *files_, address="5511987654321", **extra):
    """The delivery to a new recipient at `address` of an event carrying `files_` ((url, name) pairs)."""
    person = recipient(channel, address)
    return Delivery.objects.get(event=publish("source:1", event_with(*files_, **extra)), recipient=person)


def send(delivery):
    status = sending.send_delivery(delivery.pk)
    delivery.refresh_from_db()
    return status


# --- Wuzapi -----------------------------------------------------------------------------------------------


def test_an_image_goes_to_wuzapis_image_endpoint_with_the_text_as_its_caption(channel, wuzapi, files):
    delivery = one_delivery(channel, (files.url + "/mascote.png", "mascote.png"))

    assert send(delivery) == "sent", delivery.error
    [arrival] = wuzapi.requests  # the text goes once, as the caption: no separate text message
    assert (arrival.kind, arrival.status, arrival.id) == ("image", 200, delivery.idempotency_key)
    assert arrival.body == delivery.body and arrival.data == PNG and arrival.mimetype == "image/png"
    assert delivery.attachments == [
        {
            "url": files.url + "/mascote.png",
            "name": "mascote.png",
            "content_type": "image/png",
            "size": len(PNG),
            "sent": True,
            "reason": "",
        }
    ]


def test_a_pdf_goes_as_a_document_with_its_file_name(channel, wuzapi, files):
    delivery = one_delivery(channel, (files.url + "/regras.pdf", "Regras da gincana.pdf"))

    assert send(delivery) == "sent", delivery.error
    [arrival] = wuzapi.requests
    assert (arrival.kind, arrival.file_name, arrival.mimetype) == (
        "document",
        "Regras da gincana.pdf",
        "application/pdf",
    )
    assert arrival.body == delivery.body and arrival.data == PDF


def test_an_image_wuzapi_cannot_thumbnail_goes_as_a_document(channel, wuzapi, files):
    """Wuzapi's image.Decode reads PNG and JPEG only: a GIF is sent as a document, named after its type."""
    delivery = one_delivery(channel, (files.url + "/anim.gif", ""))
    assert send(delivery) == "sent", delivery.error
    [arrival] = wuzapi.requests
    assert (arrival.kind, arrival.file_name, arrival.data) == ("document", "anim.gif", GIF)


def test_an_image_refused_for_its_thumbnail_is_sent_again_as_a_document(channel, wuzapi, files):
    wuzapi.answer_next("no_thumbnail")  # bytes that start like a PNG but do not decode
    delivery = one_delivery(channel, (files.url + "/mascote.png", "mascote.png"))
    assert send(delivery) == "sent", delivery.error
    assert [(a.kind, a.status) for a in wuzapi.requests] == [("image", 500), ("document", 200)]
    assert wuzapi.requests[1].file_name == "mascote.png" and wuzapi.requests[1].body == delivery.body


def test_several_files_carry_the_text_once_and_each_its_own_id(channel, wuzapi, files):
    delivery = one_delivery(channel, (files.url + "/mascote.png", ""), (files.url + "/regras.pdf", ""))

    assert send(delivery) == "sent", delivery.error
    key = delivery.idempotency_key
    assert [(a.kind, a.id, a.body) for a in wuzapi.requests] == [
        ("image", key, delivery.body),
        ("document", f"{key}-file2", "2/2"),
    ]
    assert delivery.provider_id == f"{key},{key}-file2"
    assert delivery.parts == {key: key, f"{key}-file2": f"{key}-file2"}


def test_a_text_too_long_for_a_caption_goes_first_then_the_files(channel, wuzapi, files):
    long_body = "Leiam com atenção. " * 80  # ~1,500 characters: more than WhatsApp's 1,024 for a caption
    delivery = one_delivery(channel, (files.url + "/mascote.png", ""), body=long_body)

    assert send(delivery) == "sent", delivery.error
    key = delivery.idempotency_key
    assert [(a.kind, a.id) for a in wuzapi.requests] == [("text", key), ("image", f"{key}-file1")]
    assert wuzapi.requests[0].body == delivery.body and wuzapi.requests[1].body == ""


def test_a_retry_after_a_partial_send_does_not_send_the_accepted_parts_again(channel, wuzapi, files):
    wuzapi.fail_next(500, after=1)  # the image (with the text) goes through, the document fails
    delivery = one_delivery(channel, (files.url + "/mascote.png", ""), (files.url + "/regras.pdf", ""))
    key = delivery.idempotency_key

    assert send(delivery) == "retrying"
    assert delivery.parts == {key: key}  # recorded as soon as the provider accepted it
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert send(delivery) == "sent", delivery.error

    assert wuzapi.ids() == [key, f"{key}-file2", f"{key}-file2"]  # the image was not sent twice
    assert list(wuzapi.messages) == [key, f"{key}-file2"]
    assert len(file_requests(files, "/mascote.png")) == 1 and len(file_requests(files, "/regras.pdf")) == 1


@pytest.mark.parametrize(
    "situation, error, words",
    [
        ("missing_image", PermanentError, "Wuzapi refused the request"),
        ("missing_document", PermanentError, "Wuzapi refused the request"),
        ("missing_filename", PermanentError, "Wuzapi refused the request"),
        ("image_prefix", PermanentError, "Wuzapi refused the request"),
        ("document_prefix", PermanentError, "Wuzapi refused the request"),
        ("bad_base64", PermanentError, "Wuzapi refused the request"),
        ("upload_not_connected", TransientError, "Wuzapi is not connected to WhatsApp right now"),
        ("no_thumbnail", PermanentError, "Wuzapi refused the request"),  # after the document was refused too
    ],
)
def test_what_each_file_answer_of_wuzapi_means(situation, error, words, wuzapi):
    assert set(FILE_ANSWERS) == {
        "missing_image",
        "missing_document",
        "missing_filename",
        "image_prefix",
        "document_prefix",
        "bad_base64",
        "upload_not_connected",
        "no_thumbnail",
    }
    count = 2 if situation == "no_thumbnail" else 1  # an image it cannot thumbnail is tried as a document
    if situation == "no_thumbnail":
        wuzapi.answer_next("no_thumbnail")
        wuzapi.answer_next("bad_base64")
    else:
        wuzapi.answer_next(situation)
    file = kinds.File(url="https://x.example/a.png", name="a.png", content_type="image/png", size=3, data=PNG)
    message = kinds.Outgoing(key="vigia-7", subject="s", text="t", attachments=[file])
    with pytest.raises(error) as caught:
        kinds.get("wuzapi").send({"base_url": wuzapi.url}, {"token": wuzapi.token}, "5511987654321", message)
    assert words in str(caught.value) and len(wuzapi.requests) == count and not wuzapi.messages


def test_the_stand_in_checks_files_as_wuzapi_does(wuzapi):
    """The stand-in's own answers to malformed file requests, word for word (handlers.go SendImage/SendDocument)."""

    def post(path, payload):
        return httpx.post(wuzapi.url + path, json=payload, headers={"Token": wuzapi.token}, timeout=5)

    def error(answer):
        return answer.status_code, answer.json()["error"]

    image = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert error(post("/chat/send/image", {"Phone": "5511"})) == (400, "Missing Image in Payload")
    assert error(post("/chat/send/image", {"Image": image})) == (400, "Missing Phone in Payload")
    assert error(post("/chat/send/image", {"Phone": "5511", "Image": "image/png;base64,AAAA"})) == (
        400,
        'Image data should start with "data:image/png;base64,"',
    )
    assert error(post("/chat/send/image", {"Phone": "5511", "Image": "data:image/png;base64,@@@"})) == (
        400,
        "Could not decode base64 encoded data from payload",
    )
    assert error(post("/chat/send/image", {"Phone": "5511", "Image": "data:image/gif;base64,R0lGODlh"})) == (
        500,
        "Could not decode image for thumbnail preparation: image: unknown format",
    )
    document = {"Phone": "5511", "Document": "data:application/octet-stream;base64,JVBERi0="}
    assert error(post("/chat/send/document", document)) == (400, "Missing FileName in Payload")
    pdf_url = "data:application/pdf;base64,JVBERi0=xxxxxxxxxxxxxxx"
    assert error(post("/chat/send/document", {**document, "Document": pdf_url, "FileName": "a.pdf"})) == (
        400,
        'Document data should start with "data:application/octet-stream;base64,"',
    )
    with pytest.raises(httpx.RemoteProtocolError):  # Go's handler panics slicing a short value: no answer
        post("/chat/send/image", {"Phone": "5511", "Image": "data:"})
    accepted = post("/chat/send/document", {**document, "FileName": "a.pdf", "Id": "x-1"}).json()
    assert accepted["success"] is True and accepted["data"]["Id"] == "x-1" and accepted["code"] == 200
    assert wuzapi.messages["x-1"].mimetype == "application/pdf"
    wuzapi.session = "no_session"
    assert error(post("/chat/send/image", {"Phone": "5511", "Image": image})) == ANSWERS["no_session"]


# --- the other channels -------------------------------------------------------------------------------------


def test_an_email_carries_the_files_as_attachments(smtp, files):  # noqa: F811 - the fixture
    channel = Channel.objects.create(name="mail", kind="email")
    delivery = one_delivery(
        channel, (files.url + "/mascote.png", "mascote.png"), (files.url + "/regras.pdf", ""), address="ana@example.org"
    )

    assert send(delivery) == "sent", delivery.error
    [envelope] = smtp.messages
    message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    found = {part.get_filename(): (part.get_content_type(), part.get_content()) for part in message.iter_attachments()}
    assert found == {"mascote.png": ("image/png", PNG), "regras.pdf": ("application/pdf", PDF)}
    plain = message.get_body(("plain",)).get_content()
    assert [line.rstrip() for line in plain.strip().splitlines()] == delivery.body.splitlines()


def test_a_webhook_gets_the_files_as_links_with_their_type_and_size(files):
    with LoopbackServer() as hook:
        hook.respond("/hook", handler=receiver())
        channel = Channel.objects.create(
            name="hook", kind="webhook", config={"url": hook.url + "/hook"}, secrets={"secret": SECRET}
        )
        delivery = one_delivery(channel, (files.url + "/regras.pdf", "Regras.pdf"), address="")
        assert send(delivery) == "sent", delivery.error
        [request] = hook.requests
    body = request.json()
    assert body["attachments"] == [
        {"url": files.url + "/regras.pdf", "name": "Regras.pdf", "content_type": "application/pdf", "size": len(PDF)}
    ]
    assert body["text"] == delivery.body


def test_apprise_gets_the_text_with_the_files_links(files):
    with LoopbackServer() as target:
        target.respond("/notify", body={"ok": True})
        channel = Channel.objects.create(
            name="apprise", kind="apprise", secrets={"urls": f"json://127.0.0.1:{target.port}/notify"}
        )
        delivery = one_delivery(channel, (files.url + "/regras.pdf", ""), address="")
        assert send(delivery) == "sent", delivery.error
        [request] = target.requests
    assert request.json()["message"] == f"{delivery.body}\n📎 regras.pdf: {files.url}/regras.pdf"


def test_the_outbox_keeps_the_files_links_on_the_delivery(files):
    channel = Channel.objects.create(name="outbox", kind="outbox")
    delivery = one_delivery(channel, (files.url + "/regras.pdf", ""), address="equipe")
    assert send(delivery) == "sent", delivery.error
    assert [(entry["url"], entry["sent"]) for entry in delivery.attachments] == [(files.url + "/regras.pdf", True)]


# --- fetched once --------------------------------------------------------------------------------------------


def test_five_recipients_of_one_task_cost_the_organizer_one_request(channel, wuzapi, files):
    for n in range(5):
        recipient(channel, f"55119000000{n}")
    event = publish("source:1", event_with((files.url + "/mascote.png", "mascote.png")))
    deliveries = list(Delivery.objects.filter(event=event))

    assert [send(delivery) for delivery in deliveries] == ["sent"] * 5
    assert len(file_requests(files, "/mascote.png")) == 1
    assert sorted(a.phone for a in wuzapi.requests) == [f"55119000000{n}" for n in range(5)]
    assert all(a.kind == "image" and a.data == PNG for a in wuzapi.requests)
    stored = Attachment.objects.get()
    assert stored.status == "stored" and stored.sha256 == hashlib.sha256(PNG).hexdigest() and stored.size == len(PNG)


def test_a_worker_waits_for_the_file_another_is_fetching_instead_of_fetching_it_again(files, monkeypatch):
    url = files.url + "/mascote.png"
    row = Attachment.objects.create(url=url, fetching_until=timezone.now() + timedelta(minutes=1))
    looks = []

    def sleep(seconds):  # meanwhile, the other worker stores it
        looks.append(seconds)
        Attachment.objects.filter(pk=row.pk).update(
            status="stored", data=PNG, content_type="image/png", size=len(PNG), fetching_until=None
        )

    monkeypatch.setattr(attachments.time, "sleep", sleep)
    assert attachments.obtain(url).status == "stored"
    assert len(looks) == 1 and not files.requests  # its result, not a request of our own


def test_a_fetch_abandoned_by_a_dead_worker_is_taken_over_after_its_lease(files):
    url = files.url + "/mascote.png"
    Attachment.objects.create(url=url, fetching_until=timezone.now() - timedelta(seconds=1))
    assert attachments.obtain(url).status == "stored" and len(files.requests) == 1


# --- what cannot be sent ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, reason",
    [
        ("/big.png", "larger than 4 KB"),
        ("/fake.pdf", "its content is not the application/pdf it claims to be"),
        ("/tool.exe", "its type (application/x-msdownload) is not allowed"),
        ("/gone.png", "could not be fetched (HTTP 404)"),
    ],
)
def test_a_file_that_cannot_be_sent_leaves_the_text_with_a_note(path, reason, channel, wuzapi, files, settings):
    settings.VIGIA_ATTACHMENT_MAX_BYTES = 4096
    name = path.lstrip("/")
    delivery = one_delivery(channel, (files.url + path, name))

    assert send(delivery) == "sent", delivery.error
    [arrival] = wuzapi.requests
    assert arrival.kind == "text"
    assert arrival.body == f"{delivery.body}\n\n(attachment not sent: {name}, {reason})"
    refused = Attachment.objects.get(url=files.url + path)
    assert refused.status == "refused" and refused.error == reason and not refused.data
    assert [(entry["sent"], entry["reason"]) for entry in delivery.attachments] == [(False, reason)]

    # Refused for good: the next message about it does not ask the organizer again.
    asked = len(files.requests)
    assert send(one_delivery(channel, (files.url + path, name), address="5511900000009")) == "sent"
    assert len(files.requests) == asked


def test_an_address_the_outbound_guard_refuses_is_never_fetched(channel, wuzapi, settings):
    delivery = one_delivery(channel, ("http://169.254.169.254/latest/meta-data.png", "meta.png"))
    assert send(delivery) == "sent", delivery.error
    [arrival] = wuzapi.requests
    reason = "its address is not public (169.254.169.254)"
    assert arrival.kind == "text" and arrival.body.endswith(f"(attachment not sent: meta.png, {reason})")
    assert Attachment.objects.get().error == reason


def test_a_file_sent_and_a_file_refused_in_one_message(channel, wuzapi, files):
    delivery = one_delivery(channel, (files.url + "/tool.exe", ""), (files.url + "/mascote.png", ""))
    assert send(delivery) == "sent", delivery.error
    [arrival] = wuzapi.requests
    assert arrival.kind == "image" and arrival.body.startswith(delivery.body)
    assert "(attachment not sent: tool.exe, its type (application/x-msdownload) is not allowed)" in arrival.body


def test_a_generic_content_type_is_read_from_the_files_first_bytes(channel, wuzapi, files):
    delivery = one_delivery(channel, (files.url + "/download", "edital"))
    assert send(delivery) == "sent", delivery.error
    [arrival] = wuzapi.requests
    assert (arrival.kind, arrival.file_name) == ("document", "edital.pdf")  # its extension from its type


def test_a_server_error_is_retried_by_the_delivery_and_the_last_attempt_sends_the_text(channel, wuzapi, settings):
    settings.VIGIA_DELIVERY_MAX_ATTEMPTS = 2
    with LoopbackServer() as flaky:
        flaky.respond("/foto.png", status=503)
        delivery = one_delivery(channel, (flaky.url + "/foto.png", "foto.png"))

        assert send(delivery) == "retrying" and "HTTP 503" in delivery.error
        assert not wuzapi.requests and Attachment.objects.get().status == "pending"  # not refused: it may come back

        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        assert send(delivery) == "sent", delivery.error  # the last attempt: the text goes without it
    [arrival] = wuzapi.requests
    assert arrival.kind == "text" and "(attachment not sent: foto.png, could not be fetched (" in arrival.body
    assert Attachment.objects.get().status == "pending"


def test_a_server_error_then_success_sends_the_file(channel, wuzapi):
    with LoopbackServer() as flaky:
        flaky.respond("/foto.png", status=503)
        flaky.respond("/foto.png", body=PNG, headers={"Content-Type": "image/png"})
        delivery = one_delivery(channel, (flaky.url + "/foto.png", "foto.png"))
        assert send(delivery) == "retrying"
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        assert send(delivery) == "sent", delivery.error
    [arrival] = wuzapi.requests
    assert arrival.kind == "image" and arrival.body == delivery.body


def test_the_type_check_reads_declaration_and_content(settings):
    assert attachments.checked_type("image/jpg", b"\xff\xd8\xff\xe0", "a") == "image/jpeg"
    assert attachments.checked_type("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ", "a") == "image/webp"
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert attachments.checked_type("application/octet-stream", b"PK\x03\x04", "edital.docx") == docx
    for declared, data, name in [
        ("application/octet-stream", b"PK\x03\x04", "pacote.zip"),  # a ZIP is not a document
        ("text/html", b"<html>", "a.pdf"),
        ("image/svg+xml", b"<svg>", "a.svg"),  # scripts inside
        ("image/png", PDF, "a.png"),
    ]:
        with pytest.raises(attachments.Refusal):
            attachments.checked_type(declared, data, name)


# --- kept, then pruned ----------------------------------------------------------------------------------------


def test_retention_removes_attachments_no_message_used_lately(settings):
    settings.VIGIA_RETAIN_ATTACHMENT_DAYS = 30
    old = Attachment.objects.create(url="https://x.example/old.png", status="stored", data=PNG)
    recent = Attachment.objects.create(url="https://x.example/new.png", status="stored", data=PNG)
    Attachment.objects.filter(pk=old.pk).update(last_used_at=timezone.now() - timedelta(days=31))

    result, failed = retention.prune_all(pause=0)

    assert not failed and result["attachments"]["deleted"] == 1
    assert list(Attachment.objects.values_list("pk", flat=True)) == [recent.pk]


def test_retention_keeps_a_file_being_fetched_but_not_one_whose_fetch_was_abandoned(settings):
    settings.VIGIA_RETAIN_ATTACHMENT_DAYS = 30
    long_ago, now = timezone.now() - timedelta(days=31), timezone.now()
    fetching = Attachment.objects.create(url="https://x.example/a.png", fetching_until=now + timedelta(minutes=1))
    abandoned = Attachment.objects.create(url="https://x.example/b.png", fetching_until=now - timedelta(hours=1))
    Attachment.objects.update(last_used_at=long_ago)  # its worker died mid-fetch: the lease ran out long ago

    result, failed = retention.prune_all(pause=0)

    assert not failed and result["attachments"]["deleted"] == 1
    assert list(Attachment.objects.values_list("pk", flat=True)) == [fetching.pk]
    assert not Attachment.objects.filter(pk=abandoned.pk).exists()


def test_a_file_pruned_is_fetched_again_when_a_message_needs_it(channel, wuzapi, files):
    assert send(one_delivery(channel, (files.url + "/mascote.png", ""))) == "sent"
    Attachment.objects.all().delete()
    assert send(one_delivery(channel, (files.url + "/mascote.png", ""), address="5511900000001")) == "sent"
    assert len(file_requests(files, "/mascote.png")) == 2


def test_an_event_without_attachments_sends_as_before(channel, wuzapi):
    delivery = one_delivery(channel)
    assert send(delivery) == "sent"
    [arrival] = wuzapi.requests
    assert arrival.kind == "text" and arrival.body == delivery.body
    assert delivery.attachments == [] and delivery.parts == {} and not Attachment.objects.exists()


def test_webhook_payload_without_attachments_has_no_attachments_key():
    with LoopbackServer() as hook:
        hook.respond("/hook", handler=lambda request: Response(200, {"ok": True}))
        message = kinds.Outgoing(key="vigia-1", subject="s", text="t", event={"type": "item.new"})
        kinds.get("webhook").send({"url": hook.url + "/hook"}, {"secret": SECRET}, "", message)
        [request] = hook.requests
    assert "attachments" not in json.loads(request.body)


# --- on real processes ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_task_with_an_image_reaches_each_recipient_as_one_image_message(processes, wuzapi):
    """A source check on a real cluster finds a task with an image: every recipient gets one image message with
    the text as its caption, and the organizer's site is asked for the image once."""
    with LoopbackServer() as site:
        task = '<li class="task" data-id="7"><h3>Foto</h3><img src="/f/mascote.png"><p>Tirem uma foto</p></li>'
        site.respond("/tarefas", body=f"<html><body><ul>{task}</ul></body></html>")
        site.respond("/f/mascote.png", body=PNG, headers={"Content-Type": "image/png"})
        ratelimit.set_rate(ratelimit.host_key(site.url), 1000)  # the workers run with production settings
        source = organizer.make_source(site.url + "/tarefas", config={**organizer.CONFIG, "attachments": "img@src"})
        Source.objects.filter(pk=source.pk).update(announce_first_check=True)
        channel = Channel.objects.create(
            name="whatsapp", kind="wuzapi", config={"base_url": wuzapi.url}, secrets={"token": wuzapi.token}
        )
        phones = [f"55119000000{n}" for n in range(3)]
        for phone in phones:
            recipient(channel, phone, topics=[source.topic])
        processes.qcluster(VIGIA_WORKERS=3)

        run = services.run_now(Job.objects.get(pk=source.job_id))
        wait_for(lambda: Run.objects.get(pk=run.pk).status in Run.FINAL, 60, message="the source check to end")
        assert Run.objects.get(pk=run.pk).status == "succeeded", Run.objects.get(pk=run.pk).error
        wait_for(lambda: len(wuzapi.messages) >= 3, 60, message="three messages at Wuzapi")
        deliveries = Delivery.objects.filter(recipient__channel=channel)
        wait_for(lambda: not deliveries.exclude(status__in=Delivery.FINAL).exists(), 30, message="deliveries to end")

        assert sorted(arrival.phone for arrival in wuzapi.messages.values()) == phones
        for delivery in deliveries:
            assert delivery.status == "sent", delivery.error
            [arrival] = [a for a in wuzapi.messages.values() if a.id == delivery.idempotency_key]
            assert (arrival.kind, arrival.body, arrival.data) == ("image", delivery.body, PNG)
            assert "Tirem uma foto" in arrival.body
        assert len(wuzapi.requests) == 3  # one image message each, nothing else
        assert len(file_requests(site, "/f/mascote.png")) == 1


def test_a_deliverys_page_lists_its_files_and_why_one_was_left_out(viewer_client, files):
    channel = Channel.objects.create(name="outbox", kind="outbox")
    delivery = one_delivery(channel, (files.url + "/regras.pdf", "Regras.pdf"), (files.url + "/tool.exe", "<b>x</b>"))
    assert send(delivery) == "sent"

    page = viewer_client.get(reverse("channels_app:delivery", args=[delivery.pk])).content.decode()

    assert f'href="{files.url}/regras.pdf"' in page and "Regras.pdf" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "its type (application/x-msdownload) is not allowed" in page


def test_redirects_are_followed_and_each_hop_passes_the_guard(files):
    files.respond("/moved", status=302, headers={"Location": "/mascote.png"})
    files.respond("/sneaky", status=302, headers={"Location": "http://169.254.169.254/latest/"})
    assert attachments.obtain(files.url + "/moved").status == "stored"
    sneaky = attachments.obtain(files.url + "/sneaky")
    assert (sneaky.status, sneaky.error) == ("refused", "its address is not public (169.254.169.254)")


def test_the_admin_lists_the_files_with_why_one_was_refused_and_fetches_it_again(
    channel, wuzapi, files, settings, operator_client, viewer_client
):
    settings.VIGIA_ATTACHMENT_MAX_BYTES = 4096
    url = files.url + "/big.png"
    assert send(one_delivery(channel, (url, "big.png"))) == "sent"
    refused = Attachment.objects.get(url=url)
    listing = reverse("admin:channels_app_attachment_changelist")
    assert viewer_client.get(listing).status_code == 302  # a viewer has no admin: to its login

    html = operator_client.get(listing).content.decode()
    assert "big.png" in html and "larger than 4 KB" in html
    with translation.override("pt-br"):
        portuguese = recorded.translated(refused.error)
    assert portuguese != refused.error  # the reason in the reader's language
    assert portuguese in operator_client.get(listing, HTTP_ACCEPT_LANGUAGE="pt-br").content.decode()
    page = operator_client.get(reverse("admin:channels_app_attachment_change", args=[refused.pk])).content.decode()
    assert "larger than 4 KB" in page and "IHDR" not in page  # the file's bytes are never shown

    settings.VIGIA_ATTACHMENT_MAX_BYTES = 64 * 1024  # the cap raised: the operator asks for the file again
    answer = operator_client.post(listing, {"action": "fetch_again", "_selected_action": [refused.pk]}, follow=True)
    assert "1 file will be fetched again" in answer.content.decode()
    refused.refresh_from_db()
    assert (refused.status, refused.error) == ("pending", "")

    later = one_delivery(channel, (url, "big.png"), address="5511900000009")
    assert send(later) == "sent", later.error
    assert wuzapi.requests[-1].kind == "image" and Attachment.objects.get(url=url).status == "stored"
