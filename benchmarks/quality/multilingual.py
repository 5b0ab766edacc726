"""Quality benchmark: queries and speech in several languages, `conse-muse-512` beside `conse-minilm-384`.

Per speech language, one video of ``--scenes`` 6 s segments over the same plain grey picture (so
that what is said decides): each segment speaks one sentence about an everyday scene ("A dog is
running on the beach.") in that language, with espeak-ng's voice for it, from 0.5 s. The same
scenes are written in every language, once as the spoken sentence and once, phrased differently,
as the query ("a dog on the beach", "ein Hund am Strand", "浜辺の犬"). For every (speech language,
query language) pair, R@1 counts the queries whose own segment ranks first among the clips of
that speech language's video, for the transcription option and for the fused ranking (z-max, what
search ranks by; `benchmarks.quality.fusion`). A tie with another clip counts as a miss (the
picture is the same in every clip, so the visual option ties everywhere). Both stacks are
measured on the same videos: cells read ``muse / minilm``.

    python -m benchmarks.quality.multilingual [--langs en,de,es,ja] [--scenes 8] [--transcripts] [--pinned]

Languages available: en, de, es, fr, ja. Japanese is spoken from kana (espeak-ng reads kanji as
"Chinese letter"); its queries are ordinary Japanese. ``--pinned`` adds the muse stack with Whisper
told each video's language instead of detecting it (what detection costs); ``--transcripts``
prints what Whisper heard in each clip. The videos are kept in the cache folder.

On the 2-core development machine (2026-12-06, shared with other jobs) the default run took 64 s
(both stacks loaded, 4 x 8 clips embedded twice; building the videos the first time adds about
10 s); ``--langs en,de,es,fr,ja --pinned`` about 2 minutes. Results: docs/QUALITY.md, "Many
languages".
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np

from benchmarks.quality.fusion import ClipTable
from vidembed.devtools.synth import AUDIO_RATE, SegmentSpec, make_video, speak
from vidembed.engine import Engine
from vidembed.models.catalog import BUILTIN
from vidembed.models.stack import DEFAULT_STACK, MULTILINGUAL_STACK
from vidembed.models.weights import models_dir
from vidembed.search.rank import FUSION
from vidembed.segmentation import ClipParams

SEGMENT_SEC = 6.0
SPEECH_DELAY = 0.5
STACKS = (MULTILINGUAL_STACK, DEFAULT_STACK)
RANKINGS = ("transcription", f"fused ({FUSION}, default)")
VOICES = {"en": "en", "de": "de", "es": "es", "fr": "fr-fr", "ja": "ja"}

# per language: (spoken sentence, query), the same scenes in the same order
SCENES: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("A dog is running on the beach.", "a dog on the beach"),
        ("Someone is cooking pasta in the kitchen.", "a person cooking in a kitchen"),
        ("Children are playing football in the park.", "kids playing soccer in a park"),
        ("A woman is reading a book on the train.", "a woman reading on a train"),
        ("It is raining and people are holding umbrellas.", "umbrellas in the rain"),
        ("A cat is sleeping on the sofa.", "a cat asleep on a couch"),
        ("A man is riding a bicycle on a mountain road.", "a bike on a mountain road"),
        ("There is a birthday cake with candles on the table.", "a birthday cake"),
    ],
    "de": [
        ("Ein Hund rennt am Strand.", "ein Hund am Strand"),
        ("Jemand kocht Nudeln in der Küche.", "jemand kocht in der Küche"),
        ("Kinder spielen Fußball im Park.", "Kinder beim Fußball im Park"),
        ("Eine Frau liest ein Buch im Zug.", "eine Frau liest im Zug"),
        ("Es regnet und die Leute halten Regenschirme.", "Regenschirme im Regen"),
        ("Eine Katze schläft auf dem Sofa.", "eine schlafende Katze auf dem Sofa"),
        ("Ein Mann fährt Fahrrad auf einer Bergstraße.", "ein Fahrrad auf einer Bergstraße"),
        ("Auf dem Tisch steht ein Geburtstagskuchen mit Kerzen.", "ein Geburtstagskuchen"),
    ],
    "es": [
        ("Un perro corre por la playa.", "un perro en la playa"),
        ("Alguien está cocinando pasta en la cocina.", "una persona cocinando en la cocina"),
        ("Los niños juegan al fútbol en el parque.", "niños jugando al fútbol en un parque"),
        ("Una mujer lee un libro en el tren.", "una mujer leyendo en el tren"),
        ("Está lloviendo y la gente lleva paraguas.", "paraguas bajo la lluvia"),
        ("Un gato duerme en el sofá.", "un gato dormido en el sofá"),
        ("Un hombre va en bicicleta por un camino de montaña.", "una bicicleta en un camino de montaña"),
        ("Hay un pastel de cumpleaños con velas en la mesa.", "un pastel de cumpleaños"),
    ],
    "fr": [
        ("Un chien court sur la plage.", "un chien sur la plage"),
        ("Quelqu'un fait cuire des pâtes dans la cuisine.", "une personne qui cuisine"),
        ("Des enfants jouent au football dans le parc.", "des enfants qui jouent au foot dans un parc"),
        ("Une femme lit un livre dans le train.", "une femme qui lit dans le train"),
        ("Il pleut et les gens tiennent des parapluies.", "des parapluies sous la pluie"),
        ("Un chat dort sur le canapé.", "un chat endormi sur un canapé"),
        ("Un homme fait du vélo sur une route de montagne.", "un vélo sur une route de montagne"),
        ("Il y a un gâteau d'anniversaire avec des bougies sur la table.", "un gâteau d'anniversaire"),
    ],
    "ja": [
        ("いぬが はまべを はしっています。", "浜辺の犬"),
        ("だれかが キッチンで パスタを つくっています。", "台所で料理をする人"),
        ("こどもたちが こうえんで サッカーを しています。", "公園でサッカーをする子供たち"),
        ("おんなのひとが でんしゃで ほんを よんでいます。", "電車で本を読む女性"),
        ("あめが ふっていて ひとびとは かさを さしています。", "雨の中の傘"),
        ("ねこが ソファの うえで ねています。", "ソファで寝ている猫"),
        ("おとこのひとが やまみちで じてんしゃに のっています。", "山道の自転車"),
        ("テーブルに ろうそくの ついた たんじょうび ケーキが あります。", "誕生日ケーキ"),
    ],
}


def build_video(language: str, scenes: int, out: Path) -> Path:
    sentences = [said for said, _ in SCENES[language][:scenes]]
    digest = hashlib.sha256("\n".join([VOICES[language], *sentences]).encode()).hexdigest()[:8]
    path = out / f"{language}-{scenes}-{digest}.mp4"
    if path.exists():
        return path
    out.mkdir(parents=True, exist_ok=True)
    picture = np.full((360, 640, 3), 128, np.uint8)
    segments = []
    for said in sentences:
        speech = speak(said, voice=VOICES[language])
        room = SEGMENT_SEC - SPEECH_DELAY
        if len(speech) > room * AUDIO_RATE:
            print(f"  warning: {language} {said!r} lasts {len(speech) / AUDIO_RATE:.1f} s, cut to {room:g} s")
        audio = np.zeros(int(SEGMENT_SEC * AUDIO_RATE), np.float32)
        piece = speech[: len(audio) - int(SPEECH_DELAY * AUDIO_RATE)]
        audio[int(SPEECH_DELAY * AUDIO_RATE) : int(SPEECH_DELAY * AUDIO_RATE) + len(piece)] = piece
        segments.append(SegmentSpec(SEGMENT_SEC, image=picture, audio=audio))
    return make_video(path, segments)


def strict_recall_at_1(scores: np.ndarray) -> float:
    """scores (queries, clips), query i's clip is clip i; a hit needs a strictly higher score than
    every other clip (a tie or an unrankable placeholder is a miss)."""
    n = len(scores)
    hits = 0
    for i in range(n):
        own = scores[i, i]
        others = np.delete(scores[i], i)
        hits += int(np.isfinite(own) and bool(np.all(own > others)))
    return hits / n


Results = dict[str, dict[tuple[str, str], float]]  # ranking -> (speech, query) -> R@1


def evaluate(
    stack_name: str, videos: dict[str, Path], langs: list[str], scenes: int, show: bool, pin: bool = False
) -> Results:
    """R@1 per ranking and (speech, query) pair; ``pin``: Whisper is told each video's language
    instead of detecting it (what detection costs)."""
    engine = Engine(BUILTIN.load(stack_name))
    out: Results = {r: {} for r in RANKINGS}
    for speech_lang, path in videos.items():
        if pin:
            engine.stack.transcription.transcriber.language = speech_lang  # type: ignore[attr-defined]
        result = engine.embed(path, ClipParams(clip_length=SEGMENT_SEC))
        table = ClipTable(engine.stack)
        table.add(path.stem, result)
        heard = result.media.get("language", "?")
        name = f"{stack_name}{' (Whisper told the language)' if pin else ''}"
        print(f"  {name} {speech_lang}: {len(result.plan.clips)} clips, language heard {heard}")
        if show:
            for text in result.clip_texts:
                print(f"    | {text}")
        for query_lang in langs:
            queries = [query for _, query in SCENES[query_lang][:scenes]]
            scores = table.scores(queries)
            for ranking in RANKINGS:
                out[ranking][(speech_lang, query_lang)] = strict_recall_at_1(scores[ranking])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langs", default="en,de,es,ja", help=f"comma separated, of {','.join(SCENES)}")
    parser.add_argument("--scenes", type=int, default=8, help="scenes per language (at most 8)")
    parser.add_argument("--cache", type=Path, default=models_dir().parent / "benchmarks")
    parser.add_argument("--transcripts", action="store_true", help="print each clip's transcript")
    parser.add_argument(
        "--pinned", action="store_true", help="also: the muse stack with Whisper told each video's language"
    )
    args = parser.parse_args()
    langs = [lang.strip() for lang in args.langs.split(",") if lang.strip()]
    unknown = [lang for lang in langs if lang not in SCENES]
    if unknown:
        parser.error(f"unknown languages {unknown}; known: {list(SCENES)}")
    scenes = max(2, min(args.scenes, len(SCENES["en"])))
    started = time.perf_counter()
    videos = {lang: build_video(lang, scenes, args.cache / "multilingual-videos") for lang in langs}
    results = {name: evaluate(name, videos, langs, scenes, args.transcripts) for name in STACKS}
    elapsed = time.perf_counter() - started
    pinned = None
    if args.pinned:
        pinned = evaluate(MULTILINGUAL_STACK, videos, langs, scenes, args.transcripts, pin=True)[
            "transcription"
        ]

    print(
        f"\n{len(langs)} videos (one per speech language) of {scenes} x {SEGMENT_SEC:g} s, "
        f"R@1 among each video's {scenes} clips, cells {' / '.join(s.split('-')[1] for s in STACKS)} "
        f"({elapsed:.0f} s)"
    )
    for ranking in RANKINGS:
        print(f"\n{ranking}: rows the speech language, columns the query language\n")
        print("| speech \\ query | " + " | ".join(langs) + " |")
        print("|---|" + "---|" * len(langs))
        for speech_lang in langs:
            cells = " | ".join(
                " / ".join(f"{results[s][ranking][(speech_lang, q)]:.2f}" for s in STACKS) for q in langs
            )
            print(f"| {speech_lang} | {cells} |")
        for label, same in (("same language", True), ("cross-lingual", False)):
            pairs = [(a, b) for a in langs for b in langs if (a == b) == same]
            if pairs:
                means = " / ".join(f"{np.mean([results[s][ranking][p] for p in pairs]):.2f}" for s in STACKS)
                print(f"\nmean over {len(pairs)} {label} pairs: {means}", end="")
        print()
    if pinned is not None:
        print(
            f"\ntranscription, {MULTILINGUAL_STACK} with Whisper told the speech language "
            "(not in the time above)\n"
        )
        print("| speech \\ query | " + " | ".join(langs) + " |")
        print("|---|" + "---|" * len(langs))
        for speech_lang in langs:
            print(f"| {speech_lang} | " + " | ".join(f"{pinned[(speech_lang, q)]:.2f}" for q in langs) + " |")
        cross = [pinned[(a, b)] for a in langs for b in langs if a != b]
        print(f"\nmean over {len(cross)} cross-lingual pairs: {np.mean(cross):.2f}")
    print(f"\ntook {elapsed:.0f} s")


if __name__ == "__main__":
    main()
