"""E.164 validation with the ``phonenumbers`` library."""

from __future__ import annotations


def normalize_e164(value: str) -> str:
    """Return the E.164 form of a number given in E.164; raise ValueError otherwise."""
    import phonenumbers

    text = (value or "").strip()
    if not text.startswith("+"):
        raise ValueError("must be an E.164 number such as +31612345678")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"is not a valid E.164 number: {exc}") from None
    if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
