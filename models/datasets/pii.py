"""Replace personal data in text with placeholders: e-mail addresses, phone numbers, payment card
numbers and IBANs.

Numbers are checked before they are replaced, so ordinary numbers stay: a card number must pass
the Luhn check, an IBAN its mod-97 checksum, and a phone number must look like one (a leading +,
an area code in brackets, a leading 0, or three or more groups of two or more digits) while
dates, decimals, thousands, IP addresses and ISBNs are left alone.
"""
from __future__ import annotations

import re
from collections import Counter

PLACEHOLDERS = {"email": "[EMAIL]", "iban": "[IBAN]", "card": "[CARD]", "phone": "[PHONE]"}

EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,8}(?: [A-Z0-9]{1,3})?)\b")
CARD = re.compile(r"(?<![\d-])(?<![A-Z]{2}\d{2} )[2-6](?:[ -]?\d){12,18}(?![\d-])")
PHONE = re.compile(r"(?<![\w+#/.,-])(?:\+|\(|\d)[\d ().-]{5,22}\d(?![\w/]|[.,-]\d)")
DATE = re.compile(r"^\d{1,4}([./-])\d{1,2}\1\d{1,4}$")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(char, 36)) for char in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _iban_prefix(candidate: str) -> str | None:
    """The longest valid IBAN at the start of the candidate (a word after it may have been taken in)."""
    parts = candidate.split(" ")
    for end in range(len(parts), 0, -1):
        attempt = " ".join(parts[:end])
        if iban_valid(attempt):
            return attempt
    return None


def looks_like_phone(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    if candidate.count("(") != candidate.count(")") or re.search(r"[ .-]{2,}", candidate):
        return False
    if candidate.startswith("+"):
        return 8 <= len(digits) <= 15
    if not 7 <= len(digits) <= 12 or DATE.match(candidate):
        return False
    groups = re.findall(r"\d+", candidate)
    separators = set(re.findall(r"[ .-]", candidate.replace("(", "").replace(")", "")))
    if "(" in candidate:
        return len(groups) >= 2
    if len(groups) == 1:
        return candidate.startswith("0") and len(digits) in (10, 11)
    if any(len(group) < 2 for group in groups):
        return False  # ISBNs, versions, dates with one-digit parts
    if len(groups[0]) <= 3 and all(len(group) == 3 for group in groups[1:]):
        return False  # thousands: 10 000 000, 1.000.000
    if separators == {"."} and len(groups) == 4 and all(len(group) <= 3 for group in groups):
        return False  # an IP address
    if len(groups) == 2:
        return candidate.startswith("0") and "." not in separators
    return True


def _scrub_phones(text: str, counts: Counter) -> str:
    def replace(match: re.Match) -> str:
        candidate = match.group(0)
        # The class takes in a bracket or a space that belongs to the sentence; trim to the number.
        trimmed = candidate.strip(" .-")
        if trimmed.startswith("(") and trimmed.count("(") > trimmed.count(")"):
            trimmed = trimmed[1:].lstrip()
        if looks_like_phone(trimmed):
            counts["phone"] += 1
            return candidate.replace(trimmed, PLACEHOLDERS["phone"], 1)
        return candidate

    return PHONE.sub(replace, text)


def scrub_text(text: str) -> tuple[str, Counter]:
    """The text with personal data replaced, and how many of each kind were found."""
    counts: Counter = Counter()
    if not text:
        return text, counts

    def email(match: re.Match) -> str:
        counts["email"] += 1
        return PLACEHOLDERS["email"]

    def iban(match: re.Match) -> str:
        candidate = match.group(0)
        valid = _iban_prefix(candidate)
        if valid is None:
            return candidate
        counts["iban"] += 1
        return PLACEHOLDERS["iban"] + candidate[len(valid):]

    def card(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            counts["card"] += 1
            return PLACEHOLDERS["card"]
        return match.group(0)

    text = EMAIL.sub(email, text)
    text = IBAN.sub(iban, text)
    text = CARD.sub(card, text)
    text = _scrub_phones(text, counts)
    return text, counts


def scrub_row(row: dict) -> tuple[dict, Counter]:
    """The row with every text (message contents, or the text) scrubbed; labels stay."""
    counts: Counter = Counter()
    if "messages" in row:
        messages = []
        for message in row["messages"]:
            content, found = scrub_text(message["content"])
            counts += found
            messages.append({**message, "content": content})
        return {**row, "messages": messages}, counts
    text, counts = scrub_text(row.get("text", ""))
    return {**row, "text": text}, counts
