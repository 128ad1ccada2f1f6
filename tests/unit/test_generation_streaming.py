"""Streamed text pieces add up to the decoded reply; stop strings end it and are not shown."""
import pytest

from models.generation.streaming import IncrementalDetokenizer, StopStringFilter


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from models.loading import load_tokenizer
    from tests.tiny_models import copy_encoder_tokenizer

    folder = tmp_path_factory.mktemp("tok")
    copy_encoder_tokenizer(folder)
    return load_tokenizer(folder)


def test_pieces_join_to_the_decoded_text(tokenizer):
    text = "Hello there, general Kenobi! Ünïcödé wörds and numbers 12345 split into pieces."
    ids = tokenizer.encode(text, add_special_tokens=False)
    detok = IncrementalDetokenizer(tokenizer)
    pieces = [detok.add(token) for token in ids] + [detok.flush()]
    assert "".join(pieces) == tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    assert sum(1 for p in pieces if p) > 5


def feed_all(stop, pieces):
    filt = StopStringFilter(stop)
    shown = [filt.feed(p) for p in pieces]
    shown.append(filt.finish())
    return "".join(shown), filt


def test_stop_string_across_pieces_is_cut_and_never_shown():
    shown, filt = feed_all(["</end>"], ["Hello wor", "ld </e", "nd> more"])
    assert shown == "Hello world " and filt.stopped and filt.reply == "Hello world "


def test_text_that_only_looks_like_a_stop_start_is_released():
    shown, filt = feed_all(["STOP"], ["a ST", "ART b S"])
    assert shown == "a START b S" and not filt.stopped


def test_earliest_of_several_stop_strings_wins():
    shown, filt = feed_all(["\n\n", "User:"], ["one User: two\n\nthree"])
    assert shown == "one " and filt.stopped


def test_no_stop_strings_passes_everything():
    shown, filt = feed_all([], ["a", "b"])
    assert shown == "ab" and filt.reply == "ab"
