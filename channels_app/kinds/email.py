"""email: Django's e-mail framework (SMTP settings from the environment), plain text plus simple HTML.

The mail server's answers, judged as scheduler.shared.answers' four outcomes: a recipient refused with 5xx is
permanent (that address is wrong), with 4xx transient (greylisting, a full mailbox); a refused login (SMTP
535) or a refused sender address (5xx to MAIL FROM) is the channel down (every message would fail alike until
the settings are fixed); other 5xx replies are permanent, 4xx and an unreachable server transient.
"""

import smtplib
from collections.abc import Mapping
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.utils.html import escape, linebreaks
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_variables

from channels_app.kinds.base import ChannelKind, Outgoing, Sent, register
from scheduler.errors import ChannelDown, PermanentError, TransientError


@register
class Email(ChannelKind):
    name = "email"
    label = gettext_lazy("E-mail")
    address_help = gettext_lazy("An e-mail address.")
    sends_files = True

    class Config(forms.Form):
        from_email = forms.EmailField(
            label=gettext_lazy("From"), required=False, help_text=gettext_lazy("Empty: DEFAULT_FROM_EMAIL.")
        )

    def clean_address(self, address: str) -> str:
        address = (address or "").strip()
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError(
                _("'%(address)s' is not a valid e-mail address."), params={"address": address}
            ) from None
        return address.lower()

    @sensitive_variables("secrets")
    def send(self, config: Mapping[str, Any], secrets: Mapping[str, Any], address: str, message: Outgoing) -> Sent:
        email = EmailMultiAlternatives(
            subject=" ".join(message.subject.split())[:200] or "Vigia",
            body=message.text,
            from_email=config.get("from_email") or settings.DEFAULT_FROM_EMAIL,
            to=[address],
            # One Message-ID per delivery: a re-send after a crash is recognizable as the same message.
            headers={"Message-ID": f"<{message.key}@{settings.VIGIA_EMAIL_DOMAIN}>"},
        )
        email.attach_alternative(f"<html><body>{linebreaks(escape(message.text))}</body></html>", "text/html")
        for file in message.attachments:
            email.attach(file.file_name, file.data, file.content_type)
        try:
            email.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _message in exc.recipients.values()]
            problem = f"the mail server refused the recipient ({', '.join(map(str, codes))})"
            # 5xx: the address is wrong; 4xx (greylisting, a full mailbox): later may work.
            permanent = codes and all(code >= 500 for code in codes)
            raise (PermanentError if permanent else TransientError)(problem) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelDown(f"the mail server refused the login ({exc.smtp_code}): check EMAIL_HOST_USER") from None
        except smtplib.SMTPSenderRefused as exc:
            problem = f"the mail server refused the sender {exc.sender} ({exc.smtp_code})"
            raise (ChannelDown if 500 <= exc.smtp_code < 600 else TransientError)(problem) from None
        except smtplib.SMTPResponseException as exc:
            problem = f"the mail server answered {exc.smtp_code}"
            raise (PermanentError if 500 <= exc.smtp_code < 600 else TransientError)(problem) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"mail server unreachable: {type(exc).__name__}") from None
        return Sent(provider_id=f"<{message.key}@{settings.VIGIA_EMAIL_DOMAIN}>")
