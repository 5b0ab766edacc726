"""Kind ``fake``: the tests' stack without weights, wired from the arithmetic encoders of
``vidembed.models.fake`` (which also holds ``FAKE_STACK``). Builds in milliseconds.

A stacks file cannot select it: only code adds ``FAKE_STACK`` (``StackConfig.kind = "fake"``) to
``StackSettings.extra_stacks``, as the tests do.
"""

from __future__ import annotations

from vidembed.models import fake
from vidembed.models.kinds.base import StackKind
from vidembed.models.roles import TextEncoder
from vidembed.models.stack import StackSettings
from vidembed.models.stacks_file import StackConfig

ABOUT = {
    "text": "fake: words hashed into a fixed random projection (16-d); for tests, not for search",
    "visual": "fake: the frames' mean colour and brightness through a fixed random projection",
    "audio": "fake: RMS and zero-crossing rate through a fixed random projection; silent clips hold "
    '"silence"',
    "transcription": 'fake: hears no words; every clip holds the vector of "no speech"',
}


class FakeKind(StackKind):
    name = fake.FAKE_KIND

    def text_encoder(self, config: StackConfig, settings: StackSettings) -> fake.FakeTextEncoder:
        return fake.FakeTextEncoder()

    def visual_encoder(
        self, config: StackConfig, settings: StackSettings, text: TextEncoder
    ) -> fake.FakeVisualEncoder:
        return fake.FakeVisualEncoder()

    def audio_encoder(
        self, config: StackConfig, settings: StackSettings, text: TextEncoder
    ) -> fake.FakeAudioEncoder:
        return fake.FakeAudioEncoder(text)

    def transcription(
        self, config: StackConfig, settings: StackSettings, text: TextEncoder
    ) -> fake.FakeTranscriptionEncoder:
        return fake.FakeTranscriptionEncoder(text)

    def identities(self, config: StackConfig, settings: StackSettings, text: TextEncoder) -> dict[str, str]:
        return dict(fake.IDENTITIES)

    def placeholders(self, config: StackConfig) -> dict[str, str]:
        return {"audio": fake.SILENCE_TEXT, "transcription": fake.NO_SPEECH_TEXT}

    def describe(
        self, config: StackConfig, settings: StackSettings, text: TextEncoder
    ) -> dict[str, dict[str, str]]:
        return {
            role: {"kind": "fake", "about": ABOUT[role], "identity": identity}
            for role, identity in fake.IDENTITIES.items()
        }
