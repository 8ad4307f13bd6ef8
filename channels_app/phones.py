"""WhatsApp addresses as Wuzapi takes them: a phone number as ASCII digits with its country code
(`5511912345678`), or a group JID (`120363025246125486@g.us`).

Wuzapi does not read the number: its parseJID (asternic/wuzapi wmiau.go) drops one leading '+' and makes
`<Phone>@s.whatsapp.net` of the rest as it is, so spaces, dashes, Arabic-Indic or full-width digits, or a
number without its country code, become a WhatsApp user that does not exist, and the message reaches
nobody. Every path that stores an address for a Wuzapi channel (the recipient form and admin, the API,
send_test, the people import) goes through clean(), and the kind sends nothing but ASCII digits.

Numbers are read with `phonenumbers` (Google's libphonenumber metadata, kept up to date upstream) rather
than a pattern: it knows each country's plan, for +55 the area codes (DDD) that exist and that a mobile
has 9 digits after the area code, starting with 9. Any digits Unicode knows (Arabic-Indic, full-width…)
are read as the digits they are; letters, extensions and other signs are refused, not guessed at.
"""

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

GROUP = re.compile(r"[0-9]{5,40}(-[0-9]{1,20})?@g\.us")  # fullmatch; ASCII digits only
EXAMPLE = "+55 11 91234-5678"


def clean(address: str | None) -> str:
    """The address to store and send (digits only, or the group JID as given), or ValidationError."""
    address = (address or "").strip()
    if not address:
        raise ValidationError(
            _("Give a phone number with country code (e.g. %(example)s) or a group JID (…@g.us)."),
            params={"example": EXAMPLE},
        )
    if "@" in address:
        return clean_group(address)
    return clean_phone(address)


def clean_group(address: str) -> str:
    if GROUP.fullmatch(address):
        return address
    raise ValidationError(
        _("'%(address)s' is not a WhatsApp group JID (ASCII digits, then @g.us, e.g. 120363025246125486@g.us)."),
        params={"address": address},
    )


def clean_phone(address: str) -> str:
    """E.164 digits without the '+' (5511912345678), from a number typed with or without '+', with spaces,
    dashes, dots and parentheses, in any script's digits."""
    digits, plus = [], False
    for position, char in enumerate(address):
        if char.isdecimal():  # any script's 0-9 (Unicode category Nd), read as its value
            digits.append(str(unicodedata.decimal(char)))
        elif char == "+" and position == 0:
            plus = True
        elif not (char.isspace() or char in "().-" or unicodedata.category(char) == "Pd"):
            raise ValidationError(
                _("'%(address)s' is not a phone number: use digits, spaces and + - ( ) only, e.g. %(example)s."),
                params={"address": address, "example": EXAMPLE},
            )
    import phonenumbers  # here: 2.7 MB in every process that imports this module, and most never read a number

    try:
        number = phonenumbers.parse("+" + "".join(digits), None)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).removeprefix("+")
    # parse() always sets country_code; the stub types the attribute as optional for an empty PhoneNumber().
    region = phonenumbers.region_code_for_country_code(number.country_code) if number else None  # type: ignore[arg-type]
    if region == "BR":
        message = _(
            "'%(address)s' is not a valid Brazilian number: check the area code (DDD) and the digits; a mobile "
            "has 9 digits after the area code, starting with 9 (e.g. %(example)s)."
        )
    elif number is None or not plus:
        message = _(
            "'%(address)s' is not a phone number with country code. Include the country code, e.g. %(example)s."
        )
    else:
        message = _("'%(address)s' is not a valid phone number for the country code +%(code)s.")
    code = number.country_code if number else ""
    raise ValidationError(message, params={"address": address, "example": EXAMPLE, "code": code})
