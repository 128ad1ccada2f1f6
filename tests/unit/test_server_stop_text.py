"""Stop sequences cut the streamed text before them, however the pieces fall."""
import pytest

from desktop.server.stop_text import StopTrimmer, trim_at_stop


def stream(pieces, stops):
    trimmer = StopTrimmer(stops)
    out = [trimmer.feed(piece) for piece in pieces]
    return "".join(out) + trimmer.flush(), trimmer.hit


@pytest.mark.parametrize("pieces", [
    ["Hello wor", "ld. END and more"],
    ["Hello world. E", "N", "D and more"],
    ["Hello world. ", "END"],
    list("Hello world. END and more"),
])
def test_text_ends_before_the_stop_sequence(pieces):
    assert stream(pieces, ["END"]) == ("Hello world. ", True)


def test_a_false_start_is_released():
    trimmer = StopTrimmer(["</s>"])
    assert trimmer.feed("a <") == "a "  # "<" may start the stop sequence: held back
    assert trimmer.feed("b") == "<b"
    assert trimmer.flush() == "" and not trimmer.hit


def test_earliest_of_several_stops_wins():
    assert stream(["x = 1\n\nUser: hi"], ["User:", "\n\n"]) == ("x = 1", True)


def test_no_stops_passes_everything_through():
    assert stream(["a", "b"], []) == ("ab", False)
    assert trim_at_stop("abc", []) == ("abc", False)


def test_held_back_tail_comes_out_at_the_end():
    assert stream(["ends with EN"], ["END"]) == ("ends with EN", False)


def test_nothing_after_a_hit():
    trimmer = StopTrimmer(["."])
    assert trimmer.feed("one. two") == "one"
    assert trimmer.feed(" three") == "" and trimmer.flush() == ""
