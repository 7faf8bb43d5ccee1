"""Recorded instrument notes from npm registry packages: the tonejs-instruments samples and the Salamander
Grand Piano's velocity layers.

Sources (each archive pinned by version and sha256, fetched with ``npm pack``; :mod:`audiosae.data.registry`):

- ``tonejs-instrument-<name>-mp3`` (20 packages, :data:`TONEJS_PACKAGES`): one MP3 (44.1 kHz, mono) per
  note in ``package/<Note>.mp3``, e.g. ``As3.mp3`` = A#3; the instrument is the package. Samples edited by
  Nicholaus P. Brosowsky from several sample libraries (``sample-source-info.txt`` of
  github.com/nbrosowsky/tonejs-instruments, quoted in :data:`TONEJS_SAMPLE_SOURCES`), CC-BY 3.0; code MIT.
- ``@audio-samples/piano-velocity<k>`` (k = 1..16, :data:`SALAMANDER_PACKAGES`): Salamander Grand Piano V3
  (Alexander Holm, CC-BY 3.0), one OGG (48 kHz, stereo) per note and loudness layer in
  ``package/audio/<Note>v<k>.ogg`` (e.g. ``D#1v16.ogg``): 30 notes (A, C, D#, F# of each octave) x 16 layers.

Note names follow the documented grammar, not the files at hand: a letter A-G, an optional accidental
(``s`` or ``#`` sharp, ``b`` flat), an octave (possibly negative), and for Salamander ``v<layer>``; octaves
are scientific pitch notation (C4 = MIDI 60, A4 = 440 Hz). A name that does not parse (the cello package
ships ``F2 v2.mp3`` and ``G2 v2.mp3`` beside ``F2.mp3`` and ``G2.mp3``), a layer that disagrees with its
package, or a second file of the same pitch is left out and listed, with the file, in the clip report.

Preparation writes ``audio/<instrument>/<Note>[_v<layer>].wav`` (16-bit PCM, the source's sample rate,
averaged to mono): the first ``clip_seconds`` from the note's onset (the first sample within 30 dB of the
file's peak, less 5 ms), shorter where the file is. ``ground_truth.csv`` holds one row per audio file of the
selected packages: labels (instrument, instrument_family, midi_pitch, pitch_class, octave, velocity_layer,
f0_hz), measures of the crop (rms_db, duration_s), provenance (source_file, source_package, licence,
attribution), and ``problem`` (why a file was left out; then ``path`` is empty).

Splits (:func:`clip_table`): ``split`` keeps each recording in one split, per instrument (stratified by
instrument). The Salamander layers of one note are distinct recordings but near copies of one another
(normalised cross-correlation 0.999 between layers 8 and 9 of A4 over the first second), so all layers of a
note form one group (``recording_group``): the velocity probe then reads loudness on notes it never saw. The
tonejs piano is VSO2's piano (``sample-source-info.txt``), not Salamander, and its notes correlate at most
0.73-0.76 with any Salamander layer of A4 and C4: no group spans the two. ``split_by_instrument`` holds whole
instruments out (:data:`TEST_INSTRUMENTS`, one per family, each family keeping others in training) for
reading pitch across timbres.
"""
from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from ..io import write_csv
from .audio import write_wav
from .registry import Package, unpack_packages
from .splits import group_split

log = logging.getLogger(__name__)

AUDIO_DIR = "audio"
GROUND_TRUTH = "ground_truth.csv"
SALAMANDER = "salamander-piano"  # the instrument name of the Salamander Grand Piano's notes
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
ONSET_DB = -30.0  # onset: the first sample within this many dB of the file's peak ...
PREROLL_S = 0.005  # ... less this much
GROUND_TRUTH_COLUMNS = ["path", "instrument", "instrument_family", "midi_pitch", "pitch_class", "octave",
                        "velocity_layer", "f0_hz", "rms_db", "duration_s", "sample_rate", "source_file",
                        "source_package", "licence", "attribution", "problem"]

# --------------------------------------------------------------------------------------------------------------
# The pinned packages (versions and sha256 as `npm pack` delivers them)

_TONEJS = {  # instrument: (version, sha256 of the .tgz)
    "bass-electric": ("1.1.2", "7325081bfa65c00e33bf1d313ad426f55b84cffbcd80eaa992e24a1be8aee93c"),
    "bassoon": ("1.1.2", "7bf7857dd8e235cfbeae7b0ed691b8f0b3315dbc6eb65f7c9733b632b8d5b6f6"),
    "cello": ("1.1.1", "faddba054246478b8074d5f8b0182640b7f80caab457d580042a3db16d6b2192"),
    "clarinet": ("1.1.2", "fb2dd7ffb98f902bb4ad307d2eb4ea1ccca2963f0db04f805d5ebfade94ed55e"),
    "contrabass": ("1.1.2", "105a41e16e413ba3d0db2488e0012d449ff9b99eeff90cd2ed902c4ee3114faa"),
    "flute": ("1.1.2", "d31e8938982200c3a7b295945a2526752f62f3779f1c71ae6be1f0cc96369396"),
    "french-horn": ("1.1.2", "4b64503764017ce681e99585893515206de6d9765e1de1745bc86b540ecbf0ac"),
    "guitar-acoustic": ("1.1.2", "8e8708d63a7a24854781a74202742f8130eca5a68e9880cb8c95db2e9c0705ff"),
    "guitar-electric": ("1.1.1", "166600df07ea0deb369b195be08d198f21da3318bf29765dd35a0800ef61b070"),
    "guitar-nylon": ("1.1.1", "87328e71336dd5ef6cae0f24e3b8065302df986c914a799917fb45596e521aaa"),
    "harmonium": ("1.1.1", "0984c0389c8592d8288bdb2e9b2b905caf89fada3b611809afd8e71d367010c9"),
    "harp": ("1.1.1", "9100d5266a6e5c061ed509e1987144836b5d5106fd36b276cca510d5871a4f27"),
    "organ": ("1.1.1", "b8268276de3d1f514cea405636aee1d977e33ce6ea531bfd262d23056d4489e1"),
    "piano": ("1.1.2", "d564aa1c9cb691aa6816052924568cf40033ee5be3e32852872b4dcf93ecb446"),
    "saxophone": ("1.1.2", "5871de2f8445199495d1cf2d6a404c4159807b9681197c9fb7fc1555934e3bbc"),
    "trombone": ("1.1.2", "44c2d798aa41491d7b597d7213c969326f2477fec0f498ed221bdbafed25e46b"),
    "trumpet": ("1.1.2", "da360305defe60c3f92470d44264738aa13279c60b074fb8f10e1286c5cc7355"),
    "tuba": ("1.1.2", "35c0c30a9387bb4b89fd17192b26a68a72a8268b9de650fdb6f09ef1cfd00cb0"),
    "violin": ("1.1.1", "9e6cd2495e894adbed3b55061871711bc888cdf44209ee6164b70adfa0b7764c"),
    "xylophone": ("1.1.2", "c844fd335174b767856d05af77621b00077b885f3af8704dbf5d381ed6ee5505"),
}
_SALAMANDER_SHA256 = {  # velocity layer: sha256 of @audio-samples/piano-velocity<layer>@1.0.5
    1: "5b4f24caef10fa57e2575dd3c6518364a6eb2875d98ebdd7bd44e52efe055947",
    2: "06780c1e5c2f5af6380be80dece7edd088d3a1a9d64e72277f674b5f8dfea99a",
    3: "e60d06739047ffcb0461e8b5467ed2a958c6c44847751f5b0e1358eb646a92bf",
    4: "d4109ec1b6e7c9fe10eeff53195b386cb7225b74675c1c17a03a8e8ab094faed",
    5: "8ed8bed6ec85ff1d4aeff453a8e82e2fbb05c984467da59f16104ceed8ed27d9",
    6: "e6231e57d00db22457d2f4c9270165bd648a121d9abb063df5f97bfb56e82f03",
    7: "4c9610d14eef7d8d82101e2ba1dfd85f07a8b477872186a9641ddc404218ad8f",
    8: "53e86caef9fc0696ea293a62fa0b0b1cfce21c9a035d65fa0190ad24da2252d3",
    9: "5f827e906eb8b2b153dffce1f6d4e0d075605eb43982365f37aa106d2a3bee98",
    10: "b8453347f8fab61f8c087b3868cce7f1ef26655fab373b4b2dfbae1aa7e86f32",
    11: "b56ec301e17ea4e63093c04e3170f1a0a4e5ee625956d562e72f349ef4e14803",
    12: "e1c3182e8b0c6d055ee544fc3b3693c00d9e36c24a0a4e5c0eda2486fbcfedbd",
    13: "cbec034f66f44afc0bbddb0c6442a03a803dc99b0b0019f58b718b8e1ccd9a15",
    14: "50f7b90452f723f1c618d6bb3c5c75f67a56bfe8c8d81d4f4892d7066aa2c8fa",
    15: "2a947e375b30433ec86ca5318cede81ddb9b0bd97c4d0b083de2151a7558eb1a",
    16: "966ef73262a0c5403eb9a9bb07adfe89ba53e84bfefc1fe953bf250c821662a0",
}

# Where each tonejs instrument's samples come from: sample-source-info.txt of github.com/nbrosowsky/tonejs-instruments
# (the packages' README points to it; VSO2 = Versilian Studios Orchestra 2, Iowa = University of Iowa Musical
# Instrument Samples, Karoryfer = karoryfer.com samples, Freesound packs by number).
_VSO2 = "Versilian Studios Orchestra 2 (VSO2)"
TONEJS_SAMPLE_SOURCES = {
    "bass-electric": "Karoryfer Samples", "bassoon": _VSO2,
    "cello": "Freesound pack 12408 'real cello notes' by flcellogrl", "clarinet": _VSO2, "contrabass": _VSO2,
    "flute": _VSO2, "french-horn": _VSO2, "guitar-acoustic": "University of Iowa Musical Instrument Samples",
    "guitar-electric": "Karoryfer Samples",
    "guitar-nylon": "Freesound pack 11573 'classical guitar multisampled' by quartertone",
    "harmonium": "Freesound pack 330410 'harmonium samples, all keys and drones' by donyaquick", "harp": _VSO2,
    "organ": _VSO2, "piano": _VSO2, "saxophone": "Karoryfer Samples", "trombone": _VSO2, "trumpet": _VSO2,
    "tuba": _VSO2, "violin": _VSO2, "xylophone": _VSO2,
}
TONEJS_LICENCE = "CC-BY-3.0 (samples); MIT (package code)"
SALAMANDER_LICENCE = "CC-BY-3.0 (samples); MIT (package code)"
SALAMANDER_ATTRIBUTION = ("Salamander Grand Piano V3 by Alexander Holm (archive.org/details/SalamanderGrandPianoV3); "
                          "OGG packages @audio-samples/piano-velocity* by Jan Forst (github.com/darosh/samples-piano)")


def _tonejs_attribution(instrument: str) -> str:
    return (f"tonejs-instruments samples by Nicholaus P. Brosowsky (github.com/nbrosowsky/tonejs-instruments; npm "
            f"packages by Makefully Studios), edited from {TONEJS_SAMPLE_SOURCES[instrument]}")


TONEJS_PACKAGES: dict[str, Package] = {
    name: Package("npm", f"tonejs-instrument-{name}-mp3", version, sha, TONEJS_LICENCE, _tonejs_attribution(name))
    for name, (version, sha) in _TONEJS.items()
}
SALAMANDER_PACKAGES: dict[int, Package] = {
    layer: Package("npm", f"@audio-samples/piano-velocity{layer}", "1.0.5", sha, SALAMANDER_LICENCE,
                   SALAMANDER_ATTRIBUTION)
    for layer, sha in _SALAMANDER_SHA256.items()
}
INSTRUMENTS = tuple(TONEJS_PACKAGES)
VELOCITY_LAYERS = tuple(SALAMANDER_PACKAGES)

# Instrument families in NSynth's taxonomy (Engel et al. 2017: bass, brass, flute, guitar, keyboard, mallet, organ,
# reed, string, synth_lead, vocal), as the nsynth kind labels them. Judgement calls: the acoustic contrabass and the
# harp are 'string' (NSynth's 'bass' is the electric and synth bass), the harmonium (a pumped free-reed keyboard)
# is 'organ'.
FAMILIES = {
    "bass-electric": "bass", "bassoon": "reed", "cello": "string", "clarinet": "reed", "contrabass": "string",
    "flute": "flute", "french-horn": "brass", "guitar-acoustic": "guitar", "guitar-electric": "guitar",
    "guitar-nylon": "guitar", "harmonium": "organ", "harp": "string", "organ": "organ", "piano": "keyboard",
    "saxophone": "reed", "trombone": "brass", "trumpet": "brass", "tuba": "brass", "violin": "string",
    "xylophone": "mallet", SALAMANDER: "keyboard",
}
# Held out whole in split_by_instrument (pitch probes across timbres): one instrument of each of five families,
# each family keeping other instruments in training (string: violin, contrabass, harp; reed: bassoon, saxophone;
# brass: trumpet, trombone, tuba; guitar: acoustic, electric; organ: organ). Neither piano is held out, so that
# keyboard timbres stay in training. Those of them not selected are dropped; if none (or all) are left, the test
# instruments are drawn by the split seed.
TEST_INSTRUMENTS = ("cello", "clarinet", "french-horn", "guitar-nylon", "harmonium")

# --------------------------------------------------------------------------------------------------------------
# Note names

_NOTE = r"(?P<letter>[A-G])(?P<accidental>s|#|b)?(?P<octave>-?\d+)"
TONEJS_NAME = re.compile(_NOTE)
SALAMANDER_NAME = re.compile(_NOTE + r"v(?P<layer>\d+)")
_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SHIFT = {None: 0, "s": 1, "#": 1, "b": -1}


class NoteNameError(ValueError):
    """A file name that is not a note name of the documented grammar."""


def _midi_of(match: re.Match) -> int:
    return 12 * (int(match.group("octave")) + 1) + _LETTER[match.group("letter")] + _SHIFT[match.group("accidental")]


def note_to_midi(name: str) -> int:
    """MIDI number of a note name: 'A4' -> 69, 'As3' or 'A#3' -> 58, 'Bb3' -> 58, 'C-1' -> 0."""
    match = TONEJS_NAME.fullmatch(name)
    if match is None:
        raise NoteNameError(f"{name!r} is not a note name (a letter A-G, an optional s, # or b, an octave)")
    midi = _midi_of(match)
    if not 0 <= midi <= 127:
        raise NoteNameError(f"{name!r} is MIDI {midi}, outside 0-127")
    return midi


def parse_salamander(name: str) -> tuple[int, int]:
    """(MIDI, velocity layer) of a Salamander file stem: 'D#1v16' -> (27, 16)."""
    match = SALAMANDER_NAME.fullmatch(name)
    if match is None:
        raise NoteNameError(f"{name!r} is not a note name with a layer (a letter A-G, an optional s, # or b, an "
                            f"octave, 'v' and the layer)")
    midi = note_to_midi(name[: match.start("layer") - 1])
    return midi, int(match.group("layer"))


def note_name(midi: int) -> str:
    """File-name form of a MIDI number, sharps as 's': 58 -> 'As3', 60 -> 'C4'."""
    return PITCH_CLASSES[midi % 12].replace("#", "s") + str(midi // 12 - 1)


def midi_to_hz(midi) -> np.ndarray | float:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def spread(items: list, n: int) -> list:
    """``n`` of ``items`` evenly spread over their order (first and last included); 0 or more = all."""
    if not n or n >= len(items):
        return list(items)
    return [items[i] for i in np.unique(np.linspace(0, len(items) - 1, n).round().astype(int))]


# --------------------------------------------------------------------------------------------------------------
# Options -> packages


def selected_instruments(opts: dict) -> list[str]:
    names = list(INSTRUMENTS) if opts.get("instruments") is None else list(opts["instruments"])
    unknown = [n for n in names if n not in TONEJS_PACKAGES]
    if unknown:
        raise ValueError(f"instruments: unknown {unknown}; known: {', '.join(INSTRUMENTS)}")
    return names


def selected_layers(opts: dict) -> list[int]:
    layers = list(VELOCITY_LAYERS) if opts.get("velocity_layers") is None else [int(v) for v in opts["velocity_layers"]]
    unknown = [v for v in layers if v not in SALAMANDER_PACKAGES]
    if unknown:
        raise ValueError(f"velocity_layers: {unknown} not in 1..16")
    return sorted(set(layers))


def packages(opts: dict) -> list[Package]:
    """The registry packages the options select: one per tonejs instrument, one per Salamander layer."""
    return ([TONEJS_PACKAGES[n] for n in selected_instruments(opts)]
            + [SALAMANDER_PACKAGES[v] for v in selected_layers(opts)])


# --------------------------------------------------------------------------------------------------------------
# Preparation


def onset_sample(audio: np.ndarray, sample_rate: int, threshold_db: float = ONSET_DB,
                 preroll_s: float = PREROLL_S) -> int:
    """The first sample within ``threshold_db`` of the peak, less ``preroll_s`` (0 for silence)."""
    level = np.abs(audio)
    peak = float(level.max()) if len(level) else 0.0
    if peak <= 0.0:
        return 0
    first = int(np.argmax(level >= peak * 10.0 ** (threshold_db / 20.0)))
    return max(0, first - int(round(preroll_s * sample_rate)))


def rms_dbfs(audio: np.ndarray) -> float:
    """RMS level in dB full scale (a full-scale sine is -3 dB)."""
    return float(20.0 * np.log10(np.sqrt(np.mean(np.square(audio, dtype=np.float64))) + 1e-10))


def _audio_files(folder: Path, pattern: str) -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("."))


def _problem(package: Package, source: str, problem: str) -> dict:
    return dict(source_file=source, problem=problem, **package.provenance())


def _parse_package(package: Package, folder: Path, layer: int | None):
    """(notes: midi -> file, problems) of one unpacked package, by its documented layout."""
    notes, problems = {}, []
    files = _audio_files(folder, "package/*.mp3") if layer is None else _audio_files(folder, "package/audio/*.ogg")
    if not files:
        problems.append(_problem(package, "package/", "no audio files where the package's layout puts them "
                                 f"({'package/*.mp3' if layer is None else 'package/audio/*.ogg'})"))
    for path in files:
        source = path.relative_to(folder).as_posix()
        try:
            if layer is None:
                midi = note_to_midi(path.stem)
            else:
                midi, file_layer = parse_salamander(path.stem)
                if file_layer != layer:
                    raise NoteNameError(f"layer {file_layer} in the name, but the package holds layer {layer}")
        except NoteNameError as exc:
            problems.append(_problem(package, source, f"{source}: file name not parsed ({exc}); left out"))
            continue
        if midi in notes:
            problems.append(_problem(package, source, f"{source}: the same pitch (MIDI {midi}) as "
                                     f"{notes[midi].relative_to(folder).as_posix()}; left out"))
            continue
        notes[midi] = path
    return notes, problems


def _write_clip(src: Path, dest: Path, clip_seconds: float) -> dict:
    audio, sr = sf.read(src, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    start = onset_sample(audio, sr)
    crop = audio[start : start + int(round(clip_seconds * sr))]
    write_wav(dest, crop, sr)
    return dict(rms_db=rms_dbfs(crop), duration_s=len(crop) / sr, sample_rate=int(sr))


def prepare(root: Path, opts: dict, seed: int, archive: dict | None = None, progress: bool = True) -> pd.DataFrame:
    """Unpack the selected packages, crop each selected note into audio/<instrument>/, write ground_truth.csv."""
    root = Path(root)
    if not isinstance(archive, dict):
        raise ValueError(f"{root}: the instruments dataset is made from registry packages; their archives were not "
                         f"given (a dict Package.filename -> file)")
    chosen = packages(opts)
    clip_seconds = float(opts.get("clip_seconds", 2.0))
    staging = root / ".staging"
    audio_dir = root / AUDIO_DIR
    for old in (staging, audio_dir):
        if old.exists():
            shutil.rmtree(old)
    rows: list[dict] = []
    try:
        folders = unpack_packages(archive, chosen, staging)
        jobs = []  # (package, instrument, layer, midi, file)
        for name in selected_instruments(opts):
            package = TONEJS_PACKAGES[name]
            notes, problems = _parse_package(package, folders[package], None)
            rows += problems
            picked = spread(sorted(notes), int(opts.get("notes_per_instrument", 0)))
            jobs += [(package, name, None, midi, notes[midi]) for midi in picked]
        layers = {}
        for layer in selected_layers(opts):
            package = SALAMANDER_PACKAGES[layer]
            notes, problems = _parse_package(package, folders[package], layer)
            rows += problems
            layers[layer] = notes
        union = sorted(set().union(*layers.values())) if layers else []
        for midi in spread(union, int(opts.get("piano_notes", 0))):
            jobs += [(SALAMANDER_PACKAGES[v], SALAMANDER, v, midi, notes[midi])
                     for v, notes in layers.items() if midi in notes]
        for package, instrument, layer, midi, src in tqdm(jobs, desc="cropping notes", unit="note",
                                                          disable=not progress):
            stem = note_name(midi) + ("" if layer is None else f"_v{layer}")
            path = f"{AUDIO_DIR}/{instrument}/{stem}.wav"
            measured = _write_clip(src, root / path, clip_seconds)
            rows.append(dict(path=path, instrument=instrument, instrument_family=FAMILIES[instrument], midi_pitch=midi,
                             pitch_class=PITCH_CLASSES[midi % 12], octave=midi // 12 - 1,
                             velocity_layer=layer, f0_hz=float(midi_to_hz(midi)), **measured,
                             source_file=src.relative_to(folders[package]).as_posix(), problem="",
                             **package.provenance()))
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    table = pd.DataFrame(rows, columns=GROUND_TRUTH_COLUMNS)
    for column in ("midi_pitch", "octave", "velocity_layer", "sample_rate"):  # integers, empty where unknown
        table[column] = pd.to_numeric(table[column].replace("", None)).astype("Int64")
    table = table.fillna({c: "" for c in GROUND_TRUTH_COLUMNS if table[c].dtype == object})
    write_csv(table, root / GROUND_TRUTH, float_format=None)
    left_out = table["problem"] != ""
    for problem in table.loc[left_out, "problem"]:
        log.warning("%s", problem)
    log.info("%d notes of %d instruments cropped to %g s; %d files left out", int((~left_out).sum()),
             table.loc[~left_out, "instrument"].nunique(), clip_seconds, int(left_out.sum()))
    return table


# --------------------------------------------------------------------------------------------------------------
# The clip table


def test_instruments(present: list[str], opts: dict) -> list[str] | None:
    """The instruments split_by_instrument holds out: ``test_instruments``, else :data:`TEST_INSTRUMENTS` among
    those present; None (drawn by the seed) when that leaves none or all of them."""
    if opts.get("test_instruments") is not None:
        chosen = [str(i) for i in opts["test_instruments"]]
        missing = sorted(set(chosen) - set(present))
        if missing:
            raise ValueError(f"test_instruments: {missing} are not among the dataset's instruments {sorted(present)}")
        return chosen
    chosen = [i for i in TEST_INSTRUMENTS if i in present]
    return chosen if 0 < len(chosen) < len(set(present)) else None


def clip_table(root: Path, opts: dict, seed: int) -> pd.DataFrame:
    """One row per cropped note: id, path, split, split_by_instrument, recording_group and the labels.

    ``split``: per instrument, whole recording groups (a tonejs note; a Salamander note with all its layers) are
    drawn for test and valid (about test_fraction and valid_fraction of each instrument's groups).
    ``split_by_instrument``: whole instruments (see :func:`test_instruments`), valid drawn among the others.
    Files left out during preparation (names not parsed) join the clip report as skipped.
    """
    root = Path(root)
    table = pd.read_csv(root / GROUND_TRUTH, keep_default_na=False, dtype=str)
    problems = table[table["problem"] != ""]
    table = table[table["problem"] == ""].drop(columns="problem").reset_index(drop=True)
    for column in ("midi_pitch", "octave"):
        table[column] = table[column].astype(int)
    table["velocity_layer"] = pd.to_numeric(table["velocity_layer"]).astype("Int64")
    for column in ("f0_hz", "rms_db", "duration_s"):
        table[column] = table[column].astype(float)
    table["sample_rate"] = table["sample_rate"].astype(int)
    table.insert(0, "id", table["path"].map(lambda p: "__".join(Path(p).with_suffix("").parts[1:])))
    salamander = table["instrument"] == SALAMANDER
    table["recording_group"] = np.where(salamander, SALAMANDER + "__" + table["midi_pitch"].map(note_name), table["id"])
    valid_fraction, test_fraction = float(opts.get("valid_fraction", 0.2)), float(opts.get("test_fraction", 0.2))
    split_seed = seed if opts.get("split_seed") is None else int(opts["split_seed"])
    split = pd.Series("train", index=table.index, name="split")
    for _, rows in table.groupby("instrument", sort=True):
        split[rows.index] = group_split(rows, "recording_group", valid_fraction, test_fraction, split_seed)
    table.insert(2, "split", split)
    present = sorted(set(table["instrument"]))
    by_instrument = group_split(table, "instrument", valid_fraction, test_fraction, split_seed,
                                test_instruments(present, opts))
    table.insert(3, "split_by_instrument", by_instrument.to_numpy())
    table.attrs["skipped"] = [dict(path=f"{r.source_package}: {r.source_file}", problem=r.problem, action="skipped")
                              for r in problems.itertuples(index=False)]
    return table
