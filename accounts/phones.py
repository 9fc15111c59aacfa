"""Phone numbers: stored in E.164, searched by any prefix a person might type."""

import re

import phonenumbers
from django.conf import settings


class InvalidPhoneNumber(ValueError):
    pass


def normalize_phone(raw: str, region: str | None = None) -> str:
    """E.164 form of a full phone number ("+1 (555) 123-4567" → "+15551234567")."""
    region = region or settings.PHONE_DEFAULT_REGION
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"“{raw}” is not a phone number.") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhoneNumber(f"“{raw}” is not a possible phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_prefixes(raw: str, region: str | None = None) -> list[str]:
    """E.164 prefixes a partly typed phone number may stand for.

    "+1 (555) 12" means "+155512"; "555 12", typed without a country code, may be a national
    number in the default region ("+1555 12…") or an international one missing its "+".
    """
    digits = re.sub(r"\D", "", raw)
    if not digits:
        return []
    if raw.strip().startswith(("+", "00")):
        return ["+" + (digits[2:] if raw.strip().startswith("00") else digits)]
    country_code = phonenumbers.country_code_for_region(region or settings.PHONE_DEFAULT_REGION)
    national = digits.lstrip("0") or digits
    prefixes = [f"+{country_code}{national}", f"+{digits}"]
    return list(dict.fromkeys(prefixes))


def format_phone(e164: str | None) -> str:
    """A stored phone number as people read it ("+15551234567" → "+1 555-123-4567")."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
