"""Personal data becomes placeholders; ordinary numbers stay as they are."""
import pytest

from models.datasets.pii import iban_valid, luhn_valid, scrub_row, scrub_text


@pytest.mark.parametrize("text, expected", [
    ("Write to jane.doe+news@example.co.uk today.", "Write to [EMAIL] today."),
    ("cc: a_b@mail-server.org, x@y.io", "cc: [EMAIL], [EMAIL]"),
    ("Call +44 20 7946 0958 now", "Call [PHONE] now"),
    ("Call +33612345678.", "Call [PHONE]."),
    ("US office (555) 123-4567, cell 555-987-6543.", "US office [PHONE], cell [PHONE]."),
    ("Mobile 06 12 34 56 78 or 0612345678", "Mobile [PHONE] or [PHONE]"),
    ("Berlin: 030 1234567", "Berlin: [PHONE]"),
    ("Visa 4111 1111 1111 1111 expires", "Visa [CARD] expires"),
    ("Amex 3782-822463-10005.", "Amex [CARD]."),
    ("MC 5555555555554444", "MC [CARD]"),
    ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [IBAN] please"),
    ("Pay GB82WEST12345698765432 AND more", "Pay [IBAN] AND more"),
    ("to FR14 2004 1010 0505 0001 3M02 606.", "to [IBAN]."),
])
def test_personal_data_is_replaced(text, expected):
    assert scrub_text(text)[0] == expected


@pytest.mark.parametrize("text", [
    "Order 4111111111111112 shipped",            # 16 digits failing the Luhn check
    "Card 4111-1111-1111-1112 was refused",
    "order #123456789, ref 12345678, invoice 2024-0042",
    "Dates: 2024-01-15, 15.01.2024, 01/02/2024, 1999-12-31T23:59",
    "From 2019-2024 sales grew 10 000 000 units",
    "pi is 3.14159265 and gamma 0.5772156649",
    "server 192.168.100.200 port 8080",
    "ISBN 978-3-16-148410-0",
    "meeting 10:30-11:45 in room 1234, version 1.2.3, zip 75008",
    "Not an IBAN: DE89 3704 0044 0532 0130 01",   # checksum fails
    "price $1,234,567.89",
    "",
])
def test_ordinary_numbers_are_left_alone(text):
    scrubbed, counts = scrub_text(text)
    assert scrubbed == text and not counts


def test_checksums():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("DE89 3704 0044 0532 0130 00") and not iban_valid("DE89 3704 0044 0532 0130 01")


def test_counts_and_rows_keep_their_labels_and_roles():
    row = {"text": "mail me at a@b.com or +1 415 555 2671", "label": "contact@example.com"}
    scrubbed, counts = scrub_row(row)
    assert scrubbed == {"text": "mail me at [EMAIL] or [PHONE]", "label": "contact@example.com"}
    assert counts == {"email": 1, "phone": 1}
    chat = {"messages": [{"role": "user", "content": "My card is 4111 1111 1111 1111"},
                         {"role": "assistant", "content": "Please never share it."}]}
    scrubbed, counts = scrub_row(chat)
    assert [m["content"] for m in scrubbed["messages"]] == ["My card is [CARD]", "Please never share it."]
    assert counts == {"card": 1}
    assert chat["messages"][0]["content"].endswith("1111")  # the input is not changed in place
