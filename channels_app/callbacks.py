"""Callbacks: the final status of a run or an API message, POSTed to the URL its caller gave — a delivery of
its own, signed, retried with backoff, and recorded (channels_app.models.Callback).

- schedule(subject, url, document, caller): one Callback per subject ("run:12", "message:5"), so an ending
  announced twice tells the receiver once. Its document is frozen then. Its sending task is queued in the
  caller's transaction: the queue is a table of this database, so the task exists exactly when the
  callback does (and no worker can take it before the row is committed); requeue_due() is the safety net.
- send(callback_id), the django-q2 task: claims the callback (from `pending`, `retrying` once due, or
  `sending` when its worker vanished), then POSTs the document through the outbound guard (every address
  checked, redirects not followed) within TIMEOUT, with
      Content-Type: application/json
      X-Vigia-Timestamp: <Unix seconds>
      X-Vigia-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>  (as the webhook channel signs)
      X-Vigia-Callback: <subject>  (the same on every attempt: receivers drop repeats by it)
  The secret is looked up when sending, from the caller key: a token's ApiToken.callback_secret["secret"], a
  JWT issuer's "callback_secret" in VIGIA_API_JWT_ISSUERS. A caller without one (an operator's job with a
  callback URL, an issuer configured without a secret) is told unsigned: no signature header, and the
  callback row says `signed` False.
- The answer is judged by scheduler.shared.answers: 2xx is `sent`; transient and rate-limited answers (5xx,
  408, 425, 429, timeouts, network trouble) are `retrying` with exponential backoff and jitter, never sooner
  than a Retry-After, up to VIGIA_CALLBACK_MAX_ATTEMPTS, then `dead`; permanent ones (any other 4xx, a 3xx,
  a refused destination) are `failed` at once.
- requeue_due(): the leader, every 5 s (channels_app.jobs): retries that are due, and tasks that were lost.
- A message's `callback_status` follows its callback ("sent (HTTP 200)", "retrying: HTTP 503"...), and the run
  page shows a run's (channels_app.jobs registers it with scheduler.views_runs).

Secrets and header values are never logged nor stored in the callback's error.
"""

import json
import logging
import random
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_variables

from channels_app import sending
from channels_app.kinds.webhook import signature
from channels_app.models import ApiToken, Callback, Message
from scheduler import queue
from scheduler.errors import JobError, TransientError
from scheduler.execution import worker_identity
from scheduler.models import Run
from scheduler.shared import answers, outbound
from scheduler.shared.logs import log_context

log = logging.getLogger("vigia.callbacks")
SEND = "channels_app.callbacks.send"
TIMEOUT = 15.0  # seconds for a whole attempt, connection included
MAX_ANSWER_BYTES = 16 * 1024  # what is read of a receiver's answer (nothing of it is kept)
MAX_RETRY_AFTER = 24 * 3600.0  # a Retry-After is honoured up to a day
TASK_TIMEOUT = int(TIMEOUT) + 30  # what django-q2 allows the task


# --- Creating ------------------------------------------------------------------------------------------
def schedule(subject: str, url: str, document: Mapping[str, Any], caller_key: str = "") -> Callback | None:
    """The callback telling `url` of `subject`'s final status (created and queued once; a repeat returns the
    one already there). None when there is no URL."""
    if not url:
        return None
    now = timezone.now()
    with transaction.atomic():
        callback, created = Callback.objects.get_or_create(
            subject=subject[:100],
            defaults={
                "url": url,
                "body": dict(document),
                "caller": caller_key[:200],
                "next_attempt_at": now + timedelta(seconds=settings.VIGIA_DELIVERY_REQUEUE_AFTER),
            },
        )
        if created:
            enqueue([callback.pk])
            _reflect(callback)
    if created:
        log.info("callback scheduled", extra={"callback": callback.pk, "subject": callback.subject})
    return callback


def enqueue(callback_ids: list[int]) -> None:
    queue.enqueue_tasks(SEND, [((pk,), settings.VIGIA_DELIVERY_QUEUE, TASK_TIMEOUT) for pk in callback_ids])


def run_document(run: Run) -> dict[str, Any]:
    """A run's status document: {"type": "run", "run": {...}, "job": {...}}. Times are ISO 8601 (UTC),
    `duration` is in seconds (null when the run never started)."""
    job = run.job

    def moment(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "type": "run",
        "run": {
            "id": run.pk,
            "job": job.pk,
            "status": run.status,
            "trigger": run.trigger,
            "attempt": run.attempt,
            "scheduled_for": moment(run.scheduled_for),
            "started_at": moment(run.started_at),
            "finished_at": moment(run.finished_at),
            "duration": run.duration_ms / 1000 if run.duration_ms is not None else None,
            "result": run.result,
            "error": run.error,
        },
        "job": {"id": job.pk, "service": job.external_service, "key": job.external_key, "name": job.name},
    }


# --- Sending -------------------------------------------------------------------------------------------
def send(callback_id: int) -> str:
    """django-q2 task: one attempt at one callback. Returns its status; never raises."""
    me = worker_identity()
    callback = claim(callback_id, me)
    if callback is None:
        return "not claimed"
    with log_context(callback=callback.pk):
        return _attempt(callback, me)


def claim(callback_id: int, me: str, now: datetime | None = None) -> Callback | None:
    """Take the callback (one conditional UPDATE, counting the attempt) and return it, or None when it is
    not due, already taken or finished."""
    now = now or timezone.now()
    due = (
        Q(status=Callback.Status.PENDING)
        | Q(status=Callback.Status.RETRYING, next_attempt_at__lte=now)
        | Q(status=Callback.Status.SENDING, claimed_at__lt=_stale_before(now))
    )
    taken = Callback.objects.filter(due, pk=callback_id).update(
        status=Callback.Status.SENDING, attempts=F("attempts") + 1, claimed_at=now, worker=me
    )
    if not taken:
        return None
    return Callback.objects.filter(pk=callback_id, status=Callback.Status.SENDING, worker=me).first()


def _attempt(callback: Callback, me: str) -> str:
    secret = secret_for(callback.caller)
    body = json.dumps(callback.body, ensure_ascii=False).encode()
    code: int | None = None
    error: JobError | None = None
    try:
        code, headers = _post(callback, body, secret)
    except outbound.Refused as exc:  # the guard: a forbidden destination, never retried
        error = exc
    except (httpx.HTTPError, TimeoutError) as exc:
        verdict = answers.of_exception(exc, TIMEOUT)
        if verdict.reason.startswith("timed out"):
            error = verdict.error(f"no answer within {TIMEOUT:g} s")
        else:
            error = verdict.error(f"{'unreachable' if verdict.retried else 'invalid request'}: {verdict.reason}")
    except Exception as exc:  # noqa: BLE001 - a bug here must not leave the callback sending for ever
        log.exception("callback attempt crashed", extra={"callback": callback.pk})
        error = TransientError(f"crashed: {type(exc).__name__}")
    else:
        if not 200 <= code < 300:
            error = answers.of_status(code, headers).error(f"HTTP {code}")
    return finish(callback, me, code=code, signed=bool(secret), error=error)


@sensitive_variables("secret", "headers")
def _post(callback: Callback, body: bytes, secret: str) -> tuple[int, httpx.Headers]:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Vigia/0.1 (+callback {callback.subject})",
        "Accept-Encoding": "identity",  # the cap on what is read stays a real bound
        "X-Vigia-Timestamp": timestamp,
        "X-Vigia-Callback": callback.subject,
    }
    if secret:
        headers["X-Vigia-Signature"] = signature(secret, timestamp, body)
    with (
        outbound.deadline(TIMEOUT),  # the whole attempt: a receiver answering a byte a second ends too
        outbound.client().stream("POST", callback.url, content=body, headers=headers, timeout=TIMEOUT) as answer,
    ):
        outbound.read_capped(answer, MAX_ANSWER_BYTES)  # read (and dropped), so the connection can be reused
        return answer.status_code, answer.headers


@sensitive_variables("issuer")
def secret_for(caller: str) -> str:
    """The secret that signs `caller`'s callbacks ("" when it has none): a token's, or its JWT issuer's."""
    kind, _sep, rest = caller.partition(":")
    if kind == "token" and rest.isdigit():
        token = ApiToken.objects.filter(pk=int(rest)).only("callback_secret").first()
        return str(((token.callback_secret if token is not None else None) or {}).get("secret") or "")
    if kind == "jwt":  # "jwt:<issuer>:<subject>"; an issuer's name may hold ":" (a URL): the longest match
        issuers: Mapping[str, Any] = settings.VIGIA_API_JWT_ISSUERS
        names = [name for name in issuers if rest == name or rest.startswith(f"{name}:")]
        if names:
            issuer = issuers[max(names, key=len)]
            return str((issuer if isinstance(issuer, dict) else {}).get("callback_secret") or "")
    return ""


def finish(callback: Callback, me: str, *, code: int | None, signed: bool, error: JobError | None) -> str:
    """Record the attempt's outcome (only while this worker still holds the callback)."""
    now = timezone.now()
    changes: dict[str, Any] = {"claimed_at": None, "last_status_code": code, "signed": signed}
    if error is None:
        changes.update(status=Callback.Status.SENT, sent_at=now, error="", next_attempt_at=None)
    elif error.permanent:
        changes.update(status=Callback.Status.FAILED, error=str(error)[:2000], next_attempt_at=None)
    elif callback.attempts >= settings.VIGIA_CALLBACK_MAX_ATTEMPTS:
        changes.update(status=Callback.Status.DEAD, error=str(error)[:2000], next_attempt_at=None)
    else:
        changes.update(
            status=Callback.Status.RETRYING,
            error=str(error)[:2000],
            next_attempt_at=now + backoff(callback.attempts, error.retry_after),
        )
    recorded = Callback.objects.filter(pk=callback.pk, status=Callback.Status.SENDING, worker=me).update(**changes)
    if not recorded:
        log.warning("callback was taken over before it finished", extra={"callback": callback.pk})
        return "taken over"
    for name, value in changes.items():
        setattr(callback, name, value)
    _reflect(callback)
    level = logging.INFO if error is None else logging.WARNING
    log.log(
        level,
        "callback",
        extra={"callback": callback.pk, "subject": callback.subject, "status": callback.status, "code": code},
    )
    return callback.status


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """The wait after `attempts` failed attempts: VIGIA_CALLBACK_BACKOFF doubling, at most
    VIGIA_CALLBACK_BACKOFF_CAP, never shorter than a Retry-After (up to a day), plus up to 30 % jitter."""
    delay = min(settings.VIGIA_CALLBACK_BACKOFF_CAP, settings.VIGIA_CALLBACK_BACKOFF * 2 ** max(attempts - 1, 0))
    delay = max(delay, min(retry_after or 0, MAX_RETRY_AFTER))
    return timedelta(seconds=delay * random.uniform(1.0, 1.3))


def _stale_before(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.VIGIA_DELIVERY_STALE_AFTER)


# --- What the callback says, where people look -----------------------------------------------------------
def describe(callback: Callback) -> str:
    """'sent (HTTP 200)', 'retrying: HTTP 503', 'failed: refused: …', 'dead: …', 'pending'. English, as stored
    in Message.callback_status (the API answers with it)."""
    unsigned = ", unsigned" if callback.signed is False else ""
    if callback.status == Callback.Status.SENT:
        return f"sent (HTTP {callback.last_status_code}{unsigned})"
    if callback.status in (Callback.Status.PENDING, Callback.Status.SENDING):
        return str(callback.status)
    return f"{callback.status}: {callback.error}"


def url_host(url: str) -> str:
    """The host a callback goes to (the rest of its URL may carry a receiver's token: not shown in lists)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _reflect(callback: Callback) -> None:
    """A message's callback_status follows its callback, so the message's own history tells the story."""
    kind, _sep, pk = callback.subject.partition(":")
    if kind == "message" and pk.isdigit():
        Message.objects.filter(pk=int(pk)).update(callback_status=describe(callback)[:100])


def of_run(run: Run) -> Callback | None:
    """The run's callback, for its page (None for runs of jobs without a callback URL)."""
    if not run.job.callback_url:
        return None
    return Callback.objects.filter(subject=f"run:{run.pk}").first()


def run_facts(run: Run) -> list[tuple[str, str]]:
    """The run page's lines about its callback (scheduler.views_runs.add_run_facts), in the reader's language."""
    callback = of_run(run)
    if callback is None:
        return []
    details = [f"HTTP {callback.last_status_code}"] if callback.last_status_code else []
    details.append(ngettext("%(n)d attempt", "%(n)d attempts", callback.attempts) % {"n": callback.attempts})
    if callback.signed is False:
        details.append(_("unsigned: its caller has no callback secret"))
    if callback.status == Callback.Status.RETRYING and callback.next_attempt_at:
        moment = f"{timezone.localtime(callback.next_attempt_at):%Y-%m-%d %H:%M:%S}"
        details.append(_("next attempt at %(time)s") % {"time": moment})
    text = f"{callback.get_status_display()} ({'; '.join(details)}) → {url_host(callback.url)}"
    facts = [(_("Callback"), text)]
    if callback.error and callback.status != Callback.Status.SENT:
        facts.append((_("Callback error"), callback.error))
    return facts


# --- The leader's sweep -----------------------------------------------------------------------------------
def requeue_due(now: datetime | None = None) -> int:
    """Queue every callback whose retry is due, and any pending or sending one whose task was lost; each
    gets a fresh safety-net time, so the next sweep does not queue it again."""
    now = now or timezone.now()
    if not _any_due(now):
        return 0  # the usual case, every few seconds on the leader: one prepared look
    later = now + timedelta(seconds=settings.VIGIA_DELIVERY_REQUEUE_AFTER)
    with transaction.atomic():
        due = Callback.objects.filter(
            Q(status__in=[Callback.Status.PENDING, Callback.Status.RETRYING], next_attempt_at__lte=now)
            | Q(status=Callback.Status.SENDING, claimed_at__lt=_stale_before(now))
        )
        # Locked (rows a worker holds now are skipped), so a claim cannot slip between the look and the update.
        ids = list(due.select_for_update(skip_locked=True).values_list("pk", flat=True)[:5000])
        Callback.objects.filter(pk__in=ids).update(
            status=Callback.Status.PENDING, next_attempt_at=later, claimed_at=None, worker=""
        )
        enqueue(ids)
    return len(ids)


def _any_due(now: datetime) -> bool:
    return sending.any_due(Callback, "callbacks_due", now, _stale_before(now))
