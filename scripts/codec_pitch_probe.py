"""Do an audio codec's latents keep the notes? Linear frame-level pitch probes on a demo's excerpts.

    python scripts/codec_pitch_probe.py DEMO_DIR [CODEC_DIR ...]

DEMO_DIR is a finished ``umust demo`` folder (its ``umust-demo/work/excerpts`` hold the audio and
performance MIDI); CODEC_DIR (a DAC or a spectral codec) defaults to ``DEMO_DIR/umust-codecs/audio``. One linear probe (88
piano keys, +-2 frames of context, 86 frames per second) is trained on the training excerpts and
scored by frame F1 on the held-out ones, for: the log-mel of the audio (what a probe of this size
can do), the same log-mel probe on the codec's reconstructions, the codec's encoder latents and
its quantised latents. ``prior`` is the best F1 of the per-key training frequencies alone.
The second view needs no probe: basic-pitch (``umust-hf[eval]``) transcribes each held-out
reconstruction and its original, and ``transcribed_agreement`` is the onset F1 (50 ms) of the one
against the other, beside ``transcribed_chance`` (an original against another original), and
``transcribed_onset_f1`` of its notes on the reconstruction against the excerpt's MIDI.

``kmeans_floor`` is the codec-free floor every candidate must beat, fitted in the same run on the
same split: residual k-means (``--floor-stages`` x ``--floor-codes``, scikit-learn MiniBatchKMeans)
over 128-bin log-mel frames (n_fft 2048, hop 512 at 44.1 kHz, the vocabulary's 86 frames/s), with
the trained probe and a ridge probe on its reconstruction after 1, 2 and all stages, the codes used
per stage, and basic-pitch's onset F1 on Griffin-Lim audio from its quantised log-mel (beside the
same from unquantised log-mel and from the original audio). ``--floor-features stft`` fits the same
floor over 512-bin log-magnitude STFT frames, inverted by Griffin-Lim with no mel step (does the
mel inversion lose the notes?). ``--no-floor`` skips it.
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

FRAMES_PER_SECOND = 44100 / 512
CONTEXT = 2
THRESHOLDS = np.linspace(0.05, 0.6, 12)


def load_split(excerpts, split: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(audio at 44.1 kHz, piano roll (frames, 88))`` of every excerpt of ``split``."""
    import librosa

    from umust_hf.data.audio_io import decode_audio, read_midi_notes
    from umust_hf.evaluation.dtw import notes_to_pianoroll

    items = []
    for row in excerpts[split]:
        audio, rate = decode_audio(row["audio"])
        audio = librosa.resample(audio, orig_sr=rate, target_sr=44100) if rate != 44100 else audio
        roll = notes_to_pianoroll(read_midi_notes(row["midi"]), fps=FRAMES_PER_SECOND,
                                  num_frames=int(np.ceil(len(audio) / 512)))
        items.append((audio.astype(np.float32), roll[:, 21:109]))  # the 88 piano keys
    return items


def fit_frames(features: np.ndarray, frames: int) -> np.ndarray:
    """``features (T', D)`` cut or edge-padded to ``frames`` rows, with +-CONTEXT frames stacked."""
    features = features[:frames]
    if len(features) < frames:
        features = np.pad(features, ((0, frames - len(features)), (0, 0)), mode="edge")
    padded = np.pad(features, ((CONTEXT, CONTEXT), (0, 0)), mode="edge")
    return np.concatenate([padded[k : k + frames] for k in range(2 * CONTEXT + 1)], axis=1)


def log_mel(audio: np.ndarray) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=44100, n_fft=2048, hop_length=512, n_mels=229, fmin=30)
    return librosa.power_to_db(mel, ref=1.0).T


def frame_f1(probabilities: torch.Tensor, rolls: torch.Tensor, threshold: float) -> float:
    on, truth = probabilities > threshold, rolls > 0
    hits = int((on & truth).sum())
    return 2 * hits / max(1, int(on.sum()) + int(truth.sum()))


class LinearProbe:
    """Logistic regression per key on standardised features (Adam, a few epochs)."""

    def __init__(self, train: list[np.ndarray], rolls: list[np.ndarray], epochs: int = 30, seed: int = 0):
        torch.manual_seed(seed)
        features, targets = torch.tensor(np.concatenate(train)), torch.tensor(np.concatenate(rolls))
        self.mean, self.std = features.mean(0), features.std(0) + 1e-5
        self.layer = torch.nn.Linear(features.shape[1], 88)
        optimiser = torch.optim.Adam(self.layer.parameters(), 3e-3, weight_decay=1e-5)
        scaled = (features - self.mean) / self.std
        for _ in range(epochs):
            for batch in torch.randperm(len(scaled)).split(512):
                loss = torch.nn.functional.binary_cross_entropy_with_logits(self.layer(scaled[batch]), targets[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        self.threshold = max(THRESHOLDS, key=lambda t: frame_f1(self(train), targets, t))

    def __call__(self, features: list[np.ndarray]) -> torch.Tensor:
        with torch.no_grad():
            return torch.sigmoid(self.layer((torch.tensor(np.concatenate(features)) - self.mean) / self.std))

    def f1(self, features: list[np.ndarray], rolls: list[np.ndarray]) -> float:
        return round(frame_f1(self(features), torch.tensor(np.concatenate(rolls)), self.threshold), 3)


FLOOR_MELS = 128


def floor_mel(audio: np.ndarray) -> np.ndarray:
    """``(frames, 128)`` log-mel (dB) of the k-means floor."""
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=44100, n_fft=2048, hop_length=512, n_mels=FLOOR_MELS)
    return librosa.power_to_db(mel, ref=1.0, top_db=None).T.astype(np.float32)


def griffin_lim(mel_db: np.ndarray, length: int) -> np.ndarray:
    """Audio from a ``(frames, 128)`` log-mel by mel inversion and Griffin-Lim (32 iterations)."""
    import librosa

    power = librosa.db_to_power(mel_db.T)
    audio = librosa.feature.inverse.mel_to_audio(power, sr=44100, n_fft=2048, hop_length=512, n_iter=32, length=length)
    return (0.5 * audio / max(1e-6, float(np.abs(audio).max()))).astype(np.float32)


STFT_BINS = 512  # of n_fft 2048's 1025: up to 11 kHz


def floor_stft(audio: np.ndarray) -> np.ndarray:
    """``(frames, 512)`` log-magnitude STFT (dB) of the spectral floor (n_fft 2048, hop 512)."""
    import librosa

    magnitude = np.abs(librosa.stft(audio, n_fft=2048, hop_length=512))[:STFT_BINS]
    return librosa.amplitude_to_db(magnitude, ref=1.0, top_db=None).T.astype(np.float32)


def griffin_lim_stft(stft_db: np.ndarray, length: int) -> np.ndarray:
    """Audio from a ``(frames, 512)`` log-magnitude STFT by Griffin-Lim (32 iterations; upper bins silent)."""
    import librosa

    magnitude = np.zeros((1025, len(stft_db)), np.float32)
    magnitude[:STFT_BINS] = librosa.db_to_amplitude(stft_db.T)
    audio = librosa.griffinlim(magnitude, n_iter=32, hop_length=512, n_fft=2048, length=length)
    return (0.5 * audio / max(1e-6, float(np.abs(audio).max()))).astype(np.float32)


#: frame features of the floor and their inversion to audio
FLOOR_FEATURES = {"mel": (floor_mel, griffin_lim), "stft": (floor_stft, griffin_lim_stft)}


def ridge_f1(train: list[np.ndarray], train_rolls: list[np.ndarray], test: list[np.ndarray],
             test_rolls: list[np.ndarray]) -> float:
    """Frame F1 of a ridge regression from features to the piano roll, its threshold chosen on the training frames."""
    from sklearn.linear_model import Ridge

    x, y = np.concatenate(train), np.concatenate(train_rolls)
    mean, std = x.mean(0), x.std(0) + 1e-5
    model = Ridge(alpha=10.0).fit((x - mean) / std, y)
    seen = torch.tensor(model.predict((x - mean) / std))
    threshold = max(THRESHOLDS, key=lambda t: frame_f1(seen, torch.tensor(y), t))
    held = torch.tensor(model.predict((np.concatenate(test) - mean) / std))
    return round(frame_f1(held, torch.tensor(np.concatenate(test_rolls)), threshold), 3)


def kmeans_floor(train, test, test_notes, transcriber, *, stages: int, codes: int, seed: int = 0,
                 features: str = "mel") -> dict:
    """The residual k-means floor over log-mel (or log-STFT) frames (see the module doc)."""
    import time

    from sklearn.cluster import MiniBatchKMeans

    from umust_hf.evaluation.note_f1 import note_f1

    featurise, invert = FLOOR_FEATURES[features]
    train_mel, test_mel = [featurise(a) for a, _ in train], [featurise(a) for a, _ in test]
    train_rolls, test_rolls = [r for _, r in train], [r for _, r in test]
    start = time.perf_counter()
    residual_train, residual_test = np.concatenate(train_mel), np.concatenate(test_mel)
    rebuilt_train, rebuilt_test = np.zeros_like(residual_train), np.zeros_like(residual_test)
    result: dict = {"features": features, "stages": stages, "codes": codes, "codes_used": [], "probe": {}, "ridge": {}}
    splits_train, splits_test = np.cumsum([len(m) for m in train_mel])[:-1], np.cumsum([len(m) for m in test_mel])[:-1]

    def per_clip(frames, splits, rolls):
        return [fit_frames(part, len(roll)) for part, roll in zip(np.split(frames, splits), rolls)]

    for stage in range(stages):
        kmeans = MiniBatchKMeans(codes, batch_size=4096, n_init=1, random_state=seed + stage).fit(residual_train)
        for residual, rebuilt in ((residual_train, rebuilt_train), (residual_test, rebuilt_test)):
            labels = kmeans.predict(residual)
            step = kmeans.cluster_centers_[labels]
            rebuilt += step
            residual -= step
        result["codes_used"].append(int(len(np.unique(labels))))  # on the held-out frames
        if stage + 1 in (1, 2, stages):
            seen, held = per_clip(rebuilt_train, splits_train, train_rolls), per_clip(rebuilt_test, splits_test, test_rolls)
            result["probe"][stage + 1] = LinearProbe(seen, train_rolls).f1(held, test_rolls)
            result["ridge"][stage + 1] = ridge_f1(seen, train_rolls, held, test_rolls)
    result["fit_seconds"] = round(time.perf_counter() - start, 1)
    seen = [fit_frames(m, len(r)) for m, r in zip(train_mel, train_rolls)]
    held = [fit_frames(m, len(r)) for m, r in zip(test_mel, test_rolls)]
    result["probe"]["unquantised"] = LinearProbe(seen, train_rolls).f1(held, test_rolls)
    result["ridge"]["unquantised"] = ridge_f1(seen, train_rolls, held, test_rolls)
    if transcriber is not None:
        quantised = np.split(rebuilt_test, splits_test)
        heard: dict = {}
        for name, clips in (("original", [a for a, _ in test]),
                            ("griffin_lim_unquantised", [invert(m, len(a)) for m, (a, _) in zip(test_mel, test)]),
                            ("griffin_lim_quantised", [invert(m, len(a)) for m, (a, _) in zip(quantised, test)])):
            notes = [transcriber(clip, 44100) for clip in clips]
            heard[name] = round(float(np.mean([note_f1(g, n, onset_tolerance=0.05).f1
                                               for g, n in zip(test_notes, notes)])), 3)  # fmt: skip
        result["transcribed_onset_f1"] = heard
    return result


def codec_views(codec, items) -> dict[str, list[np.ndarray]]:
    """Encoder latents, quantised latents and the reconstruction's log-mel of each excerpt (for the
    spectral codec: its log-spectrogram frames and their quantised frames)."""
    from umust_hf.modeling.modeling_spectral_audio_codec import UMustSpectralAudioCodec

    views = {"latent": [], "quantised": [], "reconstruction": [], "audio": []}
    for audio, roll in items:
        waveform = codec._as_waveform(torch.from_numpy(audio)[None, None])
        with torch.no_grad():
            if isinstance(codec, UMustSpectralAudioCodec):
                latents = codec.frames(waveform)  # (1, T, D)
                codes, quantised = codec.quantize(latents)
                reconstruction = codec.decode(codes)[0, 0, : len(audio)].numpy()
                latents, quantised = latents.transpose(1, 2), quantised.transpose(1, 2)
            else:
                latents = codec.dac.encoder(waveform)
                quantised = codec.dac.quantizer(latents, codec.config.num_codebooks)[0]
                reconstruction = codec.dac.decode(quantised)[0, 0, : len(audio)].numpy()
        views["latent"].append(fit_frames(latents[0].T.numpy(), len(roll)))
        views["quantised"].append(fit_frames(quantised[0].T.numpy(), len(roll)))
        views["reconstruction"].append(fit_frames(log_mel(reconstruction), len(roll)))
        views["audio"].append(reconstruction)
    return views


def main() -> None:
    import datasets
    from transformers import AutoModel

    import umust_hf  # noqa: F401  registers both audio codecs with AutoModel
    from umust_hf.data.audio_io import read_midi_notes
    from umust_hf.evaluation.audio_pitch import transcription_agreement
    from umust_hf.evaluation.note_f1 import note_f1
    from umust_hf.evaluation.transcribers import default_transcriber

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo_dir", type=Path)
    parser.add_argument("codecs", nargs="*", type=Path)
    parser.add_argument("--no-floor", action="store_true", help="skip the k-means floor")
    parser.add_argument("--floor-stages", type=int, default=4)
    parser.add_argument("--floor-codes", type=int, default=1024)
    parser.add_argument("--floor-features", action="append", choices=sorted(FLOOR_FEATURES),
                        help="frames the floor quantises: 128-bin log-mel (default) and/or 512-bin log-STFT "
                             "(inverted by Griffin-Lim without a mel step); repeatable")
    args = parser.parse_args()
    excerpts = datasets.load_from_disk(str(args.demo_dir / "umust-demo" / "work" / "excerpts"))
    train, test = load_split(excerpts, "train"), load_split(excerpts, "test")
    train_rolls, test_rolls = [roll for _, roll in train], [roll for _, roll in test]
    mel_probe = LinearProbe([fit_frames(log_mel(a), len(r)) for a, r in train], train_rolls)
    result: dict = {"mel": mel_probe.f1([fit_frames(log_mel(a), len(r)) for a, r in test], test_rolls)}
    prior = torch.tensor(np.concatenate(train_rolls)).mean(0)
    test_truth = torch.tensor(np.concatenate(test_rolls))
    result["prior"] = round(max(frame_f1(prior.expand_as(test_truth), test_truth, t) for t in np.linspace(0.01, 0.3, 30)), 3)
    transcriber = default_transcriber()
    test_notes = [read_midi_notes(row["midi"]) for row in excerpts["test"]]
    for features in [] if args.no_floor else args.floor_features or ["mel"]:
        key = "kmeans_floor" if features == "mel" else f"kmeans_floor_{features}"
        result[key] = kmeans_floor(train, test, test_notes, transcriber, stages=args.floor_stages,
                                   codes=args.floor_codes, features=features)
        print(json.dumps({key: result[key]}), flush=True)  # a partial result
    for codec_dir in args.codecs or [args.demo_dir / "umust-codecs" / "audio"]:
        codec = AutoModel.from_pretrained(codec_dir).eval()
        seen, held = codec_views(codec, train), codec_views(codec, test)
        result[str(codec_dir)] = {
            "mel_probe_on_reconstruction": mel_probe.f1(held["reconstruction"], test_rolls),
            **{view: LinearProbe(seen[view], train_rolls).f1(held[view], test_rolls) for view in ("latent", "quantised")},
        }
        if transcriber is not None:
            heard = transcription_agreement([audio for audio, _ in test], held["audio"], 44100, transcriber)
            onset_f1 = np.mean([note_f1(gold, transcriber(audio, 44100), onset_tolerance=0.05).f1
                                for gold, audio in zip(test_notes, held["audio"])])
            result[str(codec_dir)].update(transcribed_agreement=round(heard["agreement"], 3),
                                          transcribed_chance=round(heard["chance"], 3), transcriber=heard["transcriber"],
                                          transcribed_onset_f1=round(float(onset_f1), 3))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
