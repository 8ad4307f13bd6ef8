"""wuzapi: WhatsApp through a Wuzapi server (POST {base_url}/chat/send/text with the user's token).

The delivery's key goes in `Id`, so re-sending after a crash re-sends the same WhatsApp message id and the
group sees one message. Texts over WhatsApp's limit go as ordered parts, each with its own derived id.

What Wuzapi can answer, read from its source (asternic/wuzapi at 79ee4cd, May 2025: routes.go, handlers.go's
authalice, SendMessage and Respond) and from the whatsmeow it is built with (v0.0.0-20250501130609-
4c93ee4e6efa: errors.go, send.go, request.go, user.go), and how each is judged (scheduler.shared.answers):

    200 {"code":200,"data":{"Details":"Sent","Id":…,"Timestamp":…},"success":true}        sent
    401 {"code":401,"error":"Unauthorized","success":false}   no user has the token         channel down
    404 "404 page not found" (text/plain)  the path is not Wuzapi's API (its static files)  channel down
    500 "No session"                       the user has no WhatsApp client: never connected,
                                           logged out, or its QR code expired               channel down
    400 "Could not decode Payload", "Missing Phone in Payload", "Missing Body in Payload",
        "Could not parse Phone"                                                            permanent
    500 <a database error>                 the token lookup failed                          transient
    500 "Error sending message: " + whatsmeow's error, judged by whatsmeow's own texts below.

Errors at the HTTP level from whatever stands in front of Wuzapi (a proxy's 502/503/504, a 429 with its
Retry-After, a timeout, a refused connection) are judged as every outbound answer is.
"""

import base64
import re
from collections.abc import Mapping
from functools import partial
from typing import Any

import httpx
from django import forms
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_variables

from channels_app import phones
from channels_app.kinds._http import Answer, post
from channels_app.kinds.base import ChannelKind, File, Outgoing, Sent, clean_http_url, register
from scheduler.errors import ChannelDown, JobError, PermanentError, RateLimited, TransientError
from scheduler.shared import answers, bounds

LIMIT = 4096  # WhatsApp's longest text message
PATH = "/chat/send/text"
RATE_WAIT = 60.0  # seconds before trying again when WhatsApp answers rate-overlimit (it names no wait)
SENDING = "Error sending message: "  # handlers.go, SendMessage: the prefix of every whatsmeow error
# Files (handlers.go SendImage, SendDocument at 79ee4cd): the same checks and answers as a text, plus
# 400 "Missing Image in Payload" / "Missing Document in Payload" / "Missing FileName in Payload", the data URL's
# prefix and base64 (400), 500 "Failed to upload file: " + whatsmeow's upload error (judged as a send's), and,
# for an image, 500 "Could not decode image for thumbnail preparation: " when Go's image.Decode cannot read it:
# only PNG and JPEG are registered in Wuzapi's binary (image/jpeg in handlers.go, image/png through go-qrcode),
# so other images go as documents.
IMAGE_PATH, DOCUMENT_PATH = "/chat/send/image", "/chat/send/document"
IMAGES = frozenset({"image/png", "image/jpeg"})
UPLOADING = "Failed to upload file: "
NO_THUMBNAIL = "Could not decode image for thumbnail preparation"
CAPTION_LIMIT = 1024  # WhatsApp's longest caption: a longer text goes as text before the files
MEDIA_TIMEOUT = 60.0  # Wuzapi uploads the file to WhatsApp before it answers

# Whatsmeow's own error texts (errors.go unless noted) inside "Error sending message: …", in the order they
# are looked for, with what they mean for the channel. The first that the text contains decides.
WHATSMEOW = [
    # ErrNotLoggedIn: the device was never paired, or was unpaired (send.go: checked before anything else).
    ("the store doesn't contain a device JID", ChannelDown, "the WhatsApp session is not logged in: scan the QR code"),
    # ErrNotConnected: no websocket to WhatsApp right now (client.go sendNodeAndGetData). Not "down": whatsmeow
    # reconnects by itself within seconds, and failing every message of a network blip at once would lose a
    # gincana task; retried with backoff (a session that stays disconnected ends the delivery dead).
    ("websocket not connected", TransientError, "Wuzapi is not connected to WhatsApp right now"),
    ("client is nil", ChannelDown, "Wuzapi has no WhatsApp client"),  # ErrClientIsNil
    # ErrIQRateOverLimit, inside "failed to get device list: failed to send usync query: …" (user.go)
    ("info query returned status 429: rate-overlimit", RateLimited, "WhatsApp asks to slow down"),
    ("that group does not exist", PermanentError, "the group does not exist"),  # ErrGroupNotFound
    ("you're not participating in that group", PermanentError, "the WhatsApp number is not in the group"),
    ("can't send message to unknown server", PermanentError, "not a WhatsApp address"),  # ErrUnknownServer
    ("message recipient must be a user JID with no device part", PermanentError, "not a WhatsApp address"),
    # ErrMessageTimedOut, ErrIQTimedOut, DisconnectedError ("websocket disconnected before message send
    # returned response"), socket.ErrSocketClosed: the connection dropped mid-send; the same Id goes again.
    ("timed out waiting for message send response", TransientError, "WhatsApp did not confirm in time"),
    ("info query timed out", TransientError, "WhatsApp did not answer in time"),
    ("websocket disconnected before", TransientError, "the connection to WhatsApp dropped"),
    ("frame socket is closed", TransientError, "the connection to WhatsApp dropped"),
]
# send.go: a message WhatsApp's server refused answers "server returned error <code>" (its ack's error).
SERVER_ERROR = re.compile(r"server returned error (\d+)")
# 479 comes and goes (the same message is reported to go through later); 5xx are WhatsApp's own trouble.
# Any other code is a refusal of this message (463: the number may not start new conversations for now,
# 403: blocked...): sending it again soon would be refused alike.
SERVER_ERROR_TRANSIENT = {479}
# request.go/errors.go IQError: "info query returned status <code>: <text>" (429 handled above).
IQ_STATUS = re.compile(r"info query returned status (\d+)")


@register
class Wuzapi(ChannelKind):
    name = "wuzapi"
    label = gettext_lazy("WhatsApp (Wuzapi)")
    secret_fields = ("token",)
    address_help = gettext_lazy("A phone with country code (+55 11 91234-5678) or a group JID (…@g.us).")
    max_length = LIMIT
    splits = True
    sends_files = True

    class Config(forms.Form):
        base_url = forms.CharField(
            label=gettext_lazy("Base URL"),
            max_length=500,
            help_text=gettext_lazy("The Wuzapi server, e.g. http://wuzapi:8080"),
        )
        token = forms.CharField(
            label=gettext_lazy("Token"),
            help_text=gettext_lazy("The Wuzapi user's token."),
            validators=[bounds.single_line],
        )

        def clean_base_url(self) -> str:
            return clean_http_url(self.cleaned_data["base_url"]).rstrip("/")

    def clean_address(self, address: str) -> str:
        return phones.clean(address)

    @sensitive_variables("secrets")
    def send(self, config: Mapping[str, Any], secrets: Mapping[str, Any], address: str, message: Outgoing) -> Sent:
        if not address.isascii():  # stored before addresses were normalized: Wuzapi would pass it on as it is
            raise PermanentError(
                f"the address {address!r} has non-ASCII characters and would reach nobody: edit the recipient"
            )
        files = message.attachments
        # The text is the first file's caption when it fits one, else it goes first as text.
        captioned = bool(files) and len(message.text) <= CAPTION_LIMIT
        sent = []
        if not captioned:
            parts = split(message.text, LIMIT)
            for number, text in enumerate(parts, 1):
                key = message.key if len(parts) == 1 else f"{message.key}-{number}"
                sent.append(message.part(key, partial(_send_part, config, secrets, address, text, key)))
        for number, file in enumerate(files, 1):
            # Each file its own stable Id: the one carrying the text is the message's own.
            key = message.key if captioned and number == 1 else f"{message.key}-file{number}"
            caption = f"{number}/{len(files)}" if len(files) > 1 else ""
            if captioned and number == 1:
                caption = message.text
            sent.append(message.part(key, partial(_send_file, config, secrets, address, file, caption, key)))
        return Sent(provider_id=",".join(sent))


@sensitive_variables("secrets")
def _send_part(config: Mapping[str, Any], secrets: Mapping[str, Any], address: str, text: str, key: str) -> str:
    payload = {"Phone": address, "Body": text, "Id": key}
    return _accepted(_post_media(config, secrets, PATH, payload, timeout=None), key, PATH)


@sensitive_variables("secrets")
def _send_file(
    config: Mapping[str, Any], secrets: Mapping[str, Any], address: str, file: File, caption: str, key: str
) -> str:
    """An image Wuzapi can make a thumbnail of goes as an image, anything else as a document (with its name)."""
    encoded = base64.b64encode(file.data).decode()
    if file.content_type in IMAGES:
        payload = {"Phone": address, "Image": f"data:{file.content_type};base64,{encoded}", "Caption": caption}
        answer = _post_media(config, secrets, IMAGE_PATH, {**payload, "Id": key})
        body = answer.json()
        error = body.get("error") if isinstance(body, dict) else None
        if not (isinstance(error, str) and error.startswith(NO_THUMBNAIL)):
            return _accepted(answer, key, IMAGE_PATH)
        # Its bytes are not an image Wuzapi can decode after all: the file still goes, as a document.
    payload = {
        "Phone": address,
        "Document": f"data:application/octet-stream;base64,{encoded}",
        "FileName": file.file_name,
        "Caption": caption,
        "Id": key,
    }
    return _accepted(_post_media(config, secrets, DOCUMENT_PATH, payload), key, DOCUMENT_PATH)


@sensitive_variables("secrets")
def _post_media(
    config: Mapping[str, Any],
    secrets: Mapping[str, Any],
    path: str,
    payload: dict[str, str],
    timeout: float | None = MEDIA_TIMEOUT,  # None: a text's (post's own)
) -> Answer:
    headers = {"Token": secrets.get("token", "")}
    return post(f"{config['base_url']}{path}", json=payload, headers=headers, who="Wuzapi", timeout=timeout)


def _accepted(answer: Answer, key: str, path: str) -> str:
    body = answer.json()
    if answer.ok and isinstance(body, dict) and body.get("success") is True:
        data = body.get("data")
        data = data if isinstance(data, dict) else {}
        return str(data.get("Id") or key)
    raise judge(answer.status, body, answer.headers, path)


def judge(status: int, body: object, headers: httpx.Headers | None = None, path: str = PATH) -> JobError:
    """The error for an answer that is not "sent": Wuzapi's own (a JSON {"code", "error", "success": false})
    by its text, anything else (a proxy's page, a stray server) by its HTTP status."""
    text = body.get("error") if isinstance(body, dict) else None
    text = text.strip() if isinstance(text, str) else None
    said = f"HTTP {status}: {text[:300]}" if text else f"HTTP {status}"
    if 200 <= status < 300:
        if isinstance(body, dict) and "success" in body:
            return PermanentError(f"Wuzapi refused the message: {(text or str(body))[:200]}")
        return ChannelDown(f"the base URL does not lead to Wuzapi's API: {path} answered {said} without Wuzapi's JSON")
    if status == 404:
        return ChannelDown(f"the base URL does not lead to Wuzapi's API: {path} answered {said}")
    if text is None:  # not Wuzapi speaking: something in front of it
        return answers.of_status(status, headers).error(f"Wuzapi answered {said}")
    if status == 401:
        return ChannelDown(f"Wuzapi does not know this token: unauthorized ({said})")
    if status == 400:
        if text == "Could not parse Phone":
            return PermanentError(f"Wuzapi could not read the address as a WhatsApp number or JID ({said})")
        return PermanentError(f"Wuzapi refused the request ({said})")
    if text.lower() == "no session":
        return ChannelDown(f"Wuzapi has no WhatsApp session for this token: connect it and scan the QR code ({said})")
    if text.startswith((SENDING, UPLOADING)):
        return _whatsmeow(text, said)
    return answers.of_status(status, headers).error(f"Wuzapi could not send the message ({said})")


def _whatsmeow(text: str, said: str) -> JobError:
    for marker, kind, meaning in WHATSMEOW:
        if marker in text:
            wait = RATE_WAIT if kind is RateLimited else None
            return kind(f"{meaning} ({said})", retry_after=wait)
    refused = SERVER_ERROR.search(text)
    if refused:
        code = int(refused.group(1))
        kind = TransientError if code in SERVER_ERROR_TRANSIENT or code >= 500 else PermanentError
        return kind(f"WhatsApp refused the message with error {code} ({said})")
    iq = IQ_STATUS.search(text)
    if iq and 400 <= int(iq.group(1)) < 500:
        return PermanentError(f"WhatsApp refused the request ({said})")
    return TransientError(f"Wuzapi could not send the message ({said})")


def split(text: str, limit: int) -> list[str]:
    """Ordered parts of at most `limit` characters, cut at a paragraph, line or word where possible."""
    if len(text) <= limit:
        return [text]
    parts, rest = [], text
    while len(rest) > limit:
        cut = max(rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit))
        cut = cut if cut > limit // 2 else limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return [*parts, rest] if rest else parts
