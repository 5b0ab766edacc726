"""Which ends of packed speech windows are decoded again (models.speech.untranscribed_tails)."""

from __future__ import annotations

from vidembed.models.speech import MIN_TAIL_SECONDS, SAMPLE_RATE, Word, untranscribed_tails

S = SAMPLE_RATE


def test_a_window_whose_words_stop_early_has_its_tail_decoded_again() -> None:
    words = [Word(0.2, 1.0, "a"), Word(1.1, 20.0, "b"), Word(30.5, 31.0, "c")]
    windows = [(0, 24 * S), (30 * S, 32 * S)]
    assert untranscribed_tails(words, windows) == [(20 * S, 24 * S)]


def test_a_tail_shorter_than_the_limit_is_left_alone() -> None:
    end = 20.0 + MIN_TAIL_SECONDS - 0.1  # VAD's padding after the last word
    assert untranscribed_tails([Word(19.0, 20.0, "end.")], [(0, int(end * S))]) == []
    assert untranscribed_tails([Word(19.0, 20.0, "end.")], [(0, int((20.0 + MIN_TAIL_SECONDS) * S))]) == [
        (20 * S, int((20.0 + MIN_TAIL_SECONDS) * S))
    ]


def test_a_window_without_words_is_not_decoded_again() -> None:
    """Whisper heard nothing there: decoding it again would only invite hallucinations."""
    assert untranscribed_tails([Word(1.0, 2.0, "x")], [(0, 3 * S), (10 * S, 20 * S)]) == []


def test_a_word_belongs_to_the_window_that_holds_its_midpoint() -> None:
    # a word that starts before the second window and ends inside it belongs to the second
    words = [Word(9.9, 10.3, "late"), Word(2.0, 2.5, "early")]
    assert untranscribed_tails(words, [(0, 10 * S), (10 * S, 20 * S)]) == [
        (int(2.5 * S), 10 * S),
        (int(10.3 * S), 20 * S),
    ]
