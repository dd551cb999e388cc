"""Train :class:`~umust_hf.UMustAudioCodec` with descript-audio-codec's own recipe.

Generator = our codec (a ``dac.DAC`` inside); discriminator = ``dac.model.discriminator.Discriminator``
(multi-period + multi-band multi-resolution STFT); losses from ``dac.nn.loss``: multi-scale mel
(weight 15), adversarial generator (1) and feature matching (2), plus the quantiser's commitment
(0.25) and codebook (1) terms - the weights of DAC's ``conf/base.yml``. AdamW (lr 1e-4, betas
0.8/0.99) with exponential decay, gradient clipping 1e3 (generator) / 10 (discriminator), as
in DAC's ``scripts/train.py``.

The ``paper`` preset is that recipe at full width. The ``cpu`` preset is a narrow codec, short
crops, a reduced discriminator that joins only after a 1000-step mel-only phase, and lr 1e-3
(encoder 1e-4, see ``encoder_lr_scale``) so that minutes of CPU time show learning.

Both add what DAC's recipe lacks and a short run needs: codes no batch picked for a while are
restarted from recent encoder latents of their own stage (:mod:`.codebook_revival`). Without
that (and the CPU preset's slower encoder) the CPU codec's codebooks collapse onto a handful of
their 1024 codes within minutes. Seeding the codebooks by k-means over encoder outputs before the
first step is available (``codebook_init_frames``) but off: it gives
more distinct codes yet worse onsets in the reconstructions (``docs/experiments.md``). Quality is reported next to the untrained codec on held-out audio:
multi-scale mel distance, codes used and perplexity per codebook, onset F1 of the
reconstruction against the excerpt's MIDI onsets (embedded corpus only), and the pitch agreement
of reconstruction and original (:mod:`~umust_hf.evaluation.audio_pitch`; ``pitch_agreement_chance``
is what other notes score).

Resumable: ``out_dir/checkpoint/state.pt`` holds both networks, optimisers, schedulers, the data
RNG, the codebook-revival state and the untrained baseline. The result is ``codec.save_pretrained(out_dir)`` plus the
feature extractor and ``out_dir/training_metrics.json``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.audio_io import decode_audio, read_midi_notes
from ..data.embedded import load_embedded_corpus
from ..errors import UserError
from ..evaluation.audio_onsets import merge_onsets, onset_f1
from ..evaluation.audio_pitch import pitch_agreement, pitch_agreement_chance, transcription_agreement
from ..evaluation.transcribers import Transcriber, default_transcriber
from ..io_utils import atomic_write, atomic_write_json
from ..modeling.configuration_audio_codec import UMustAudioCodecConfig
from ..modeling.modeling_audio_codec import UMustAudioCodec
from ..processing.feature_extraction_umust import UMustFeatureExtractor
from .codebook_revival import CodebookRevival, code_statistics
from .codec_loop import TrainingBudget, run_training_steps


#: Files read when ``data_dir`` is a plain folder of audio.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")

CHECKPOINT_DIR = "checkpoint"
METRICS_FILE = "training_metrics.json"


@dataclass
class AudioCodecTrainingConfig:
    """Everything that defines a codec training run (saved in the checkpoint, checked on resume)."""

    codec: dict = field(default_factory=lambda: UMustAudioCodecConfig.cpu().to_diff_dict())
    batch_size: int = 4
    segment_samples: int = 8192
    max_steps: int = 2000
    learning_rate: float = 1e-4
    #: the encoder trains at ``learning_rate * encoder_lr_scale`` (1 = DAC). The straight-through
    #: quantiser hands the decoder's mel gradient to the encoder unchanged; at the CPU preset's
    #: lr 1e-3 that drove the latents up ~10^4-fold within five steps and all frames onto one code.
    encoder_lr_scale: float = 1.0
    betas: tuple[float, float] = (0.8, 0.99)
    lr_decay: float = 0.999996
    generator_grad_clip: float = 1e3
    discriminator_grad_clip: float = 10.0
    # loss weights (DAC conf/base.yml)
    mel_weight: float = 15.0
    adv_gen_weight: float = 1.0
    adv_feat_weight: float = 2.0
    commitment_weight: float = 0.25
    codebook_weight: float = 1.0
    # discriminator (DAC: MPD periods 2,3,5,7,11; MRD 2048,1024,512 with 5 bands; no MSD)
    discriminator_periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])
    discriminator_fft_sizes: list[int] = field(default_factory=lambda: [2048, 1024, 512])
    #: steps trained with reconstruction + VQ losses only before the GAN starts (0 = DAC).
    adversarial_start_step: int = 0
    checkpoint_every: int = 50
    #: held-out evaluation: this many clips, the first ``eval_seconds`` of each.
    eval_clips: int = 8
    eval_seconds: float = 2.0
    #: crops quieter than this RMS are redrawn (DAC skips silent excerpts too).
    min_crop_rms: float = 1e-3
    #: frames of training audio whose encoder outputs seed the codebooks by k-means before step 1
    #: (one frame = one hop of 512 samples; 0 = DAC's random codebooks, the default: seeding
    #: measured worse onset F1 on the embedded corpus, see the module docstring).
    codebook_init_frames: int = 0
    #: every this many steps, codes not picked for ``dead_after`` steps are restarted (0 = never).
    revive_every: int = 10
    dead_after: int = 32
    #: recent projected latents kept per codebook as the pool for restarts.
    revival_buffer: int = 4096

    def __post_init__(self):
        if isinstance(self.codec, UMustAudioCodecConfig):
            self.codec = self.codec.to_diff_dict()
        self.codec = {k: v for k, v in dict(self.codec).items() if k not in ("transformers_version", "model_type")}
        self.betas = tuple(float(b) for b in self.betas)
        for name in ("batch_size", "segment_samples", "max_steps", "checkpoint_every", "eval_clips"):
            if int(getattr(self, name)) <= 0:
                raise UserError(f"audio codec training: {name} must be positive, got {getattr(self, name)}")
        for name in ("codebook_init_frames", "revive_every", "dead_after", "revival_buffer"):
            if int(getattr(self, name)) < 0:
                raise UserError(f"audio codec training: {name} must be >= 0, got {getattr(self, name)}")
        if not float(self.encoder_lr_scale) > 0:
            raise UserError(f"audio codec training: encoder_lr_scale must be positive, got {self.encoder_lr_scale}")
        if self.revive_every and (self.dead_after <= 0 or self.revival_buffer <= 0):
            raise UserError("audio codec training: revive_every needs dead_after > 0 and revival_buffer > 0")
        hop = self.codec_config().hop_length
        if self.segment_samples % hop:
            raise UserError(f"audio codec training: segment_samples {self.segment_samples} must be a multiple of the hop {hop}")

    def codec_config(self) -> UMustAudioCodecConfig:
        return UMustAudioCodecConfig(**self.codec)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> AudioCodecTrainingConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"audio codec training config: unknown keys {unknown}")
        return cls(**data)

    @classmethod
    def paper(cls, **overrides) -> AudioCodecTrainingConfig:
        """DAC's recipe (batch 72 of 0.38 s crops on GPUs) at the paper's codec width."""
        return cls(**{"codec": UMustAudioCodecConfig.paper().to_diff_dict(), "batch_size": 72,
                      "segment_samples": 16896, "max_steps": 400_000, "eval_seconds": 10.0, **overrides})

    @classmethod
    def cpu(cls, **overrides) -> AudioCodecTrainingConfig:
        """A few CPU minutes: narrow codec, 0.19 s crops, mel + VQ losses only for its 1000 steps.

        The (small) discriminator joins from step 1000 on, i.e. only when trained longer: on a
        2-core machine a GAN step costs about four mel-only steps, and the first GAN steps of a
        fresh discriminator set a short run back (figures in ``docs/experiments.md``).
        """
        return cls(**{"batch_size": 4, "segment_samples": 8192, "max_steps": 1000,
                      "learning_rate": 1e-3, "encoder_lr_scale": 0.1, "lr_decay": 0.999,
                      "discriminator_periods": [2, 5], "discriminator_fft_sizes": [512],
                      "adversarial_start_step": 1000, "checkpoint_every": 25, **overrides})


def resolve_training_config(config: Any) -> AudioCodecTrainingConfig:
    """``None``/``"cpu"``/``"paper"``, a training config, a codec config, a dict, or a JSON file path."""
    if config is None or config == "cpu":
        return AudioCodecTrainingConfig.cpu()
    if config == "paper":
        return AudioCodecTrainingConfig.paper()
    if isinstance(config, AudioCodecTrainingConfig):
        return config
    if isinstance(config, UMustAudioCodecConfig):
        return AudioCodecTrainingConfig.cpu(codec=config.to_diff_dict())
    if isinstance(config, dict):
        return AudioCodecTrainingConfig.from_dict(config)
    if isinstance(config, (str, os.PathLike)) and Path(config).is_file():
        try:
            return AudioCodecTrainingConfig.from_dict(json.loads(Path(config).read_text()))
        except json.JSONDecodeError as error:
            raise UserError(f"{config}: not valid JSON ({error})") from error
    raise UserError(f"audio codec training config must be 'cpu', 'paper', a dict or a JSON file, got {config!r}")


# ---------------------------------------------------------------------- data
def _decoded_to_array(value: Any, extractor: UMustFeatureExtractor, where: str) -> np.ndarray:
    """44.1 kHz mono float32 from whatever ``decode_audio`` returns (array, (array, rate) or dict)."""
    rate = extractor.sampling_rate
    if isinstance(value, dict):
        value, rate = value["array"], value["sampling_rate"]
    elif isinstance(value, tuple) and len(value) == 2:
        value, rate = value
    return extractor.resample(extractor.to_mono(value, where=where), int(rate), where=where)


def _corpus_clips(data_dir: Path, extractor: UMustFeatureExtractor) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """(train, held-out) clips of an embedded corpus directory, or ``None`` if it is not one."""
    if not (data_dir / "dataset_dict.json").is_file():
        return None
    corpus = load_embedded_corpus(data_dir)
    held_name = _held_out_split(corpus, data_dir)

    def clips(split: str) -> list[np.ndarray]:
        return [
            _decoded_to_array(decode_audio(row), extractor, f"{data_dir} [{split} row {i}]")
            for i, row in enumerate(corpus[split]["audio"])
        ]

    return clips("train"), clips(held_name)


def _held_out_split(corpus: Any, data_dir: Path) -> str:
    """The split evaluated on: ``validation``, else ``test`` (and a ``train`` split must exist)."""
    held_name = next((s for s in ("validation", "test") if s in corpus), None)
    if "train" not in corpus or held_name is None:
        raise UserError(f"{data_dir}: the corpus needs a 'train' and a 'validation' or 'test' split, has {list(corpus)}")
    return held_name


def load_held_out_onsets(data_dir: str | os.PathLike) -> list[np.ndarray] | None:
    """Onset times (seconds) of each held-out clip's MIDI, in ``load_codec_training_audio`` order.

    ``None`` when ``data_dir`` is a plain folder of audio (no MIDI to compare against).
    """
    data_dir = Path(data_dir)
    if not (data_dir / "dataset_dict.json").is_file():
        return None
    corpus = load_embedded_corpus(data_dir)
    split = corpus[_held_out_split(corpus, data_dir)]
    if "midi" not in split.column_names:
        return None
    return [merge_onsets([note.start for note in read_midi_notes(midi)]) for midi in split["midi"]]


def _folder_clips(data_dir: Path, extractor: UMustFeatureExtractor) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Audio files under ``data_dir``; every 10th file (sorted by path) is held out.

    With a single file, its last 20 % is held out instead.
    """
    import soundfile  # heavy: soundfile

    files = sorted(p for p in data_dir.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise UserError(f"{data_dir}: neither an embedded corpus nor a folder with audio files ({', '.join(AUDIO_SUFFIXES)})")
    clips = []
    for path in files:
        try:
            data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        except Exception as error:  # noqa: BLE001
            raise UserError(f"{path}: cannot read audio ({error})") from error
        clips.append(extractor.resample(extractor.to_mono(data, channels_last=True, where=str(path)), rate, where=str(path)))
    if len(clips) == 1:
        cut = int(len(clips[0]) * 0.8)
        return [clips[0][:cut]], [clips[0][cut:]]
    held = set(range(0, len(clips), 10))
    return [c for i, c in enumerate(clips) if i not in held], [c for i, c in enumerate(clips) if i in held]


def load_codec_training_audio(data_dir: str | os.PathLike) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(train_clips, held_out_clips)``, each a list of ``(samples,)`` float32 arrays at 44.1 kHz mono."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: no such directory (expected an embedded corpus or a folder of audio files)")
    extractor = UMustFeatureExtractor()
    split = _corpus_clips(data_dir, extractor) or _folder_clips(data_dir, extractor)
    if not split[0] or not split[1]:
        raise UserError(f"{data_dir}: need audio for training and for held-out evaluation, got {len(split[0])} / {len(split[1])} clips")
    return split


def random_crops(clips: list[np.ndarray], rng: np.random.Generator, batch_size: int, length: int, min_rms: float) -> torch.Tensor:
    """``(batch_size, 1, length)`` random excerpts (zero-padded when a clip is shorter); quiet ones are redrawn."""
    weights = np.array([max(len(c), 1) for c in clips], dtype=np.float64)
    weights /= weights.sum()
    batch = np.zeros((batch_size, 1, length), dtype=np.float32)
    for row in range(batch_size):
        for _ in range(10):
            clip = clips[rng.choice(len(clips), p=weights)]
            start = int(rng.integers(0, max(len(clip) - length, 0) + 1))
            crop = clip[start : start + length]
            if float(np.sqrt(np.mean(crop.astype(np.float64) ** 2))) >= min_rms:
                break
        batch[row, 0, : len(crop)] = crop
    return torch.from_numpy(batch)


# ---------------------------------------------------------------------- losses and metric
def _dac_losses():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from audiotools import AudioSignal  # heavy: audiotools
        from dac.model.discriminator import Discriminator  # heavy: dac
        from dac.nn.loss import GANLoss, MelSpectrogramLoss  # heavy: dac
    return AudioSignal, Discriminator, GANLoss, MelSpectrogramLoss


def multiscale_mel_loss() -> torch.nn.Module:
    """DAC's training mel loss: 7 scales (windows 32..2048, 5..320 mels), L1 on log mels."""
    MelSpectrogramLoss = _dac_losses()[3]
    return MelSpectrogramLoss(
        n_mels=[5, 10, 20, 40, 80, 160, 320],
        window_lengths=[32, 64, 128, 256, 512, 1024, 2048],
        mel_fmin=[0.0] * 7,
        mel_fmax=[None] * 7,
        pow=1.0,
        mag_weight=0.0,
        clamp_eps=1e-5,
    )


@torch.no_grad()
def _reconstruct(codec: UMustAudioCodec, clips: list[np.ndarray], seconds: float) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(audio (1, 1, T), reconstruction (1, 1, T), codes (frames, K))`` of each clip's first ``seconds``."""
    was_training = codec.training
    codec.eval()
    length = int(seconds * codec.config.sampling_rate)
    results = []
    for clip in clips:
        audio = torch.from_numpy(np.ascontiguousarray(clip[:length]))[None, None]
        codes = codec.encode(audio)
        results.append((audio, codec.decode(codes)[..., : audio.shape[-1]], codes[0]))
    codec.train(was_training)
    return results


def _mel_distance_of(pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], sr: int, loss: torch.nn.Module | None) -> float:
    AudioSignal = _dac_losses()[0]
    loss = loss or multiscale_mel_loss()
    warnings.filterwarnings("ignore", message="stft_data changed shape")  # audiotools, once per mel scale
    with torch.no_grad():
        return float(np.mean([float(loss(AudioSignal(rec, sr), AudioSignal(audio, sr))) for audio, rec, _ in pairs]))


def mel_distance(codec: UMustAudioCodec, clips: list[np.ndarray], seconds: float, loss: torch.nn.Module | None = None) -> float:
    """Mean multi-scale mel distance between each clip's first ``seconds`` and its encode->decode."""
    return _mel_distance_of(_reconstruct(codec, clips, seconds), codec.config.sampling_rate, loss)


def codebook_usage(codec: UMustAudioCodec, clips: list[np.ndarray], seconds: float) -> list[int]:
    """Distinct codes per codebook over the first ``seconds`` of each clip (collapse shows as few)."""
    codes = torch.cat([codes for _, _, codes in _reconstruct(codec, clips, seconds)])
    return code_statistics(codes, codec.config.codebook_size)[0]


def evaluate_codec(
    codec: UMustAudioCodec,
    clips: list[np.ndarray],
    seconds: float,
    onsets: list[np.ndarray] | None = None,
    loss: torch.nn.Module | None = None,
    transcriber: Transcriber | None = None,
) -> dict[str, Any]:
    """Held-out quality of one codec from a single encode->decode pass over ``clips``.

    Returns ``mel_distance`` (float), ``codebook_usage`` (distinct codes per codebook),
    ``codebook_perplexity`` (per codebook), ``onset_f1`` (``None`` without ``onsets``) and
    ``pitch_agreement`` (semitone-roll F1 of the reconstructions against the originals: whether
    they keep the notes, which onsets and the mel distance do not tell); with a ``transcriber``
    (basic-pitch) also ``transcribed_agreement``, the onset F1 of its notes on the reconstructions
    against its notes on the originals (:func:`~umust_hf.evaluation.audio_pitch.transcription_agreement`).
    """
    results = _reconstruct(codec, clips, seconds)
    sr = codec.config.sampling_rate
    usage, perplexity = code_statistics(torch.cat([codes for _, _, codes in results]), codec.config.codebook_size)
    reconstructions = [rec[0, 0].numpy() for _, rec, _ in results]
    originals = [audio[0, 0].numpy() for audio, _, _ in results]
    metrics = {
        "mel_distance": _mel_distance_of(results, sr, loss),
        "codebook_usage": usage,
        "codebook_perplexity": [round(p, 2) for p in perplexity],
        "onset_f1": None if onsets is None else onset_f1(onsets, reconstructions, sr),
        "pitch_agreement": pitch_agreement(originals, reconstructions, sr),
    }
    if transcriber is not None:
        agreement = transcription_agreement(originals, reconstructions, sr, transcriber)
        metrics["transcribed_agreement"] = agreement["agreement"]
        metrics["transcribed_agreement_chance"] = agreement["chance"]
    return metrics


# ---------------------------------------------------------------------- checkpoints
def _atomic_torch_save(obj: Any, path: Path) -> None:
    atomic_write(path, lambda temporary: torch.save(obj, temporary))


def _save_final(codec: UMustAudioCodec, out_dir: Path) -> None:
    """``save_pretrained`` into a temporary folder, then move each file into place."""
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".save-") as tmp:
        codec.save_pretrained(tmp)
        UMustFeatureExtractor(sampling_rate=codec.config.sampling_rate, hop_length=codec.config.hop_length).save_pretrained(tmp)
        for name in os.listdir(tmp):
            os.replace(os.path.join(tmp, name), out_dir / name)


# ---------------------------------------------------------------------- training
@torch.no_grad()
def _seed_codebooks(codec: UMustAudioCodec, revival: CodebookRevival, clips: list[np.ndarray],
                    rng: np.random.Generator, cfg: AudioCodecTrainingConfig) -> None:
    """Seed the codebooks from encoder outputs of ``cfg.codebook_init_frames`` frames of training crops."""
    frames_per_crop = cfg.segment_samples // codec.config.hop_length
    crops = random_crops(clips, rng, math.ceil(cfg.codebook_init_frames / frames_per_crop), cfg.segment_samples, cfg.min_crop_rms)
    latents = torch.cat([codec.dac.encoder(chunk) for chunk in crops.split(16)])  # (N, latent_dim, frames)
    revival.initialise(latents)


@dataclass
class AudioCodecTraining:
    """What one audio-codec training run updates: the codec and its discriminator, their
    optimisers and schedulers, the data RNG and the codebook revival (all saved in a checkpoint)."""

    cfg: AudioCodecTrainingConfig
    codec: UMustAudioCodec
    discriminator: torch.nn.Module
    gan_loss: torch.nn.Module
    mel_loss: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sched_g: torch.optim.lr_scheduler.LRScheduler
    sched_d: torch.optim.lr_scheduler.LRScheduler
    rng: np.random.Generator
    revival: CodebookRevival

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(), "codec": self.codec.state_dict(),
            "discriminator": self.discriminator.state_dict(), "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(), "sched_g": self.sched_g.state_dict(), "sched_d": self.sched_d.state_dict(),
            "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
            "codebook_revival": self.revival.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], where: Path) -> None:
        if state["config"] != self.cfg.to_dict():
            raise UserError(f"{where}: checkpoint was trained with a different config; use a new out_dir or delete it")
        self.codec.load_state_dict(state["codec"])
        self.discriminator.load_state_dict(state["discriminator"])
        for name in ("opt_g", "opt_d", "sched_g", "sched_d"):
            getattr(self, name).load_state_dict(state[name])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        self.revival.load_state_dict(state["codebook_revival"])


def build_audio_codec_training(cfg: AudioCodecTrainingConfig, seed: int) -> AudioCodecTraining:
    """A fresh codec, DAC's discriminator and losses, and DAC's optimisers, seeded by ``seed``."""
    _, Discriminator, GANLoss, _ = _dac_losses()
    torch.manual_seed(seed)
    codec = UMustAudioCodec(cfg.codec_config())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        discriminator = Discriminator(periods=list(cfg.discriminator_periods), fft_sizes=list(cfg.discriminator_fft_sizes),
                                      sample_rate=codec.config.sampling_rate)
    encoder_params = list(codec.dac.encoder.parameters())
    encoder_ids = {id(p) for p in encoder_params}
    opt_g = torch.optim.AdamW(
        [{"params": encoder_params, "lr": cfg.learning_rate * cfg.encoder_lr_scale},
         {"params": [p for p in codec.parameters() if id(p) not in encoder_ids]}],
        lr=cfg.learning_rate, betas=cfg.betas,
    )
    opt_d = torch.optim.AdamW(discriminator.parameters(), lr=cfg.learning_rate, betas=cfg.betas)
    revival = CodebookRevival(codec.dac.quantizer.quantizers[: codec.config.num_codebooks],
                              dead_after=max(cfg.dead_after, 1), buffer_size=max(cfg.revival_buffer, 1), seed=seed)
    return AudioCodecTraining(
        cfg=cfg, codec=codec, discriminator=discriminator, gan_loss=GANLoss(discriminator),
        mel_loss=multiscale_mel_loss(), opt_g=opt_g, opt_d=opt_d,
        sched_g=torch.optim.lr_scheduler.ExponentialLR(opt_g, cfg.lr_decay),
        sched_d=torch.optim.lr_scheduler.ExponentialLR(opt_d, cfg.lr_decay),
        rng=np.random.default_rng(seed), revival=revival,
    )


def audio_codec_step(training: AudioCodecTraining, train_clips: list[np.ndarray], step: int) -> dict[str, float]:
    """One optimiser step of DAC's recipe on a batch of random training crops; returns its losses
    (the discriminator joins at ``cfg.adversarial_start_step``; dead codes are revived every
    ``cfg.revive_every`` steps)."""
    AudioSignal = _dac_losses()[0]
    cfg, codec, sr = training.cfg, training.codec, training.codec.config.sampling_rate
    real = random_crops(train_clips, training.rng, cfg.batch_size, cfg.segment_samples, cfg.min_crop_rms)
    out = codec(real)
    recons, signal = AudioSignal(out.audio_values, sr), AudioSignal(real, sr)
    terms = {"mel": training.mel_loss(recons, signal), "commitment": out.commitment_loss, "codebook": out.codebook_loss}
    losses: dict[str, float] = {}
    if step >= cfg.adversarial_start_step:
        disc_loss = training.gan_loss.discriminator_loss(recons, signal)
        training.opt_d.zero_grad()
        disc_loss.backward()
        torch.nn.utils.clip_grad_norm_(training.discriminator.parameters(), cfg.discriminator_grad_clip)
        training.opt_d.step()
        training.sched_d.step()
        terms["adv_gen"], terms["adv_feat"] = training.gan_loss.generator_loss(recons, signal)
        losses["disc"] = float(disc_loss.detach())
    weights = {"mel": cfg.mel_weight, "commitment": cfg.commitment_weight, "codebook": cfg.codebook_weight,
               "adv_gen": cfg.adv_gen_weight, "adv_feat": cfg.adv_feat_weight}
    total = sum(weights[name] * value for name, value in terms.items())
    if not torch.isfinite(total):
        raise RuntimeError(f"audio codec training diverged at step {step}: loss {float(total)}; lower learning_rate")
    training.opt_g.zero_grad()
    total.backward()
    torch.nn.utils.clip_grad_norm_(codec.parameters(), cfg.generator_grad_clip)
    training.opt_g.step()
    training.sched_g.step()
    if cfg.revive_every:
        training.revival.observe(out.projected_latents, out.audio_codes)
        if (step + 1) % cfg.revive_every == 0:
            training.revival.revive(training.opt_g)
    losses.update({name: float(value.detach()) for name, value in terms.items()})
    losses["total"] = float(total.detach())
    return losses


def train_audio_codec(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    max_steps: int | None = None,
    minutes: float | None = None,
    seed: int = 0,
    show_progress: bool = True,
    config: Any = None,
) -> dict:
    """Train (or resume training) an audio codec and save it with ``save_pretrained``.

    Args:
        data_dir: an embedded corpus directory (``load_embedded_corpus``) or a folder of audio files.
        out_dir: where the codec, ``training_metrics.json`` and ``checkpoint/`` go.
        max_steps: total steps to reach (counting resumed ones). Default: no cap when
            ``minutes`` is given, else ``config.max_steps``.
        minutes: wall-clock budget for this call; stops after the step that spends it.
        seed: seeds initialisation and data order.
        show_progress: tqdm bar.
        config: ``"cpu"`` (default), ``"paper"``, an :class:`AudioCodecTrainingConfig`, a codec
            config, a dict or a JSON file.

    Returns:
        Metrics: ``steps``, ``seconds`` (training wall time, codebook seeding included),
        ``mel_distance_untrained``/``_trained`` (held-out multi-scale mel distance),
        ``codebook_usage_*`` (distinct held-out codes per codebook) and ``min_codes_used_*``,
        ``codebook_perplexity_*`` (per codebook) and ``mean_perplexity_*``, ``onset_f1_*`` (onset
        F1 of the reconstruction against the MIDI, with ``onset_f1_original`` the same detector
        on the original audio as the ceiling; ``None`` without MIDI), ``pitch_agreement_*``
        (semitone-roll F1 of reconstruction against original; 1 keeps every note) and
        ``pitch_agreement_chance`` (each original against another: the level of other notes), ``codes_revived``, last
        ``losses``, ``out_dir``.
    """
    cfg = resolve_training_config(config)
    budget = TrainingBudget.resolve(max_steps, minutes, default_steps=cfg.max_steps)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / CHECKPOINT_DIR / "state.pt"

    train_clips, held_clips = load_codec_training_audio(data_dir)
    held_clips = held_clips[: cfg.eval_clips]
    held_onsets = load_held_out_onsets(data_dir)
    held_onsets = None if held_onsets is None else held_onsets[: cfg.eval_clips]
    training = build_audio_codec_training(cfg, seed)
    codec, sr = training.codec, training.codec.config.sampling_rate
    transcriber = default_transcriber()  # basic-pitch's view of the reconstructions, when installed

    def evaluate() -> dict[str, Any]:
        return evaluate_codec(codec, held_clips, cfg.eval_seconds, held_onsets, training.mel_loss, transcriber)

    step, resumed_from = 0, None
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        training.load_state_dict(state, state_path)
        step = resumed_from = int(state["step"])
        untrained = state["untrained"]
    else:
        untrained = evaluate()

    def checkpoint(at: int) -> None:
        _atomic_torch_save({**training.state_dict(), "step": at, "untrained": untrained}, state_path)

    codec.train()
    training.discriminator.train()
    started = time.monotonic()
    if resumed_from is None and cfg.codebook_init_frames:  # a resumed run was seeded before its first step
        _seed_codebooks(codec, training.revival, train_clips, training.rng, cfg)
    losses: dict[str, float] = {}

    def train_step(index: int) -> dict[str, float]:
        losses.update(audio_codec_step(training, train_clips, index))
        return losses

    loop = run_training_steps(
        train_step, start_step=step, budget=budget, checkpoint=checkpoint, checkpoint_every=cfg.checkpoint_every,
        description="train audio codec", show_progress=show_progress, started=started,
        postfix=lambda current: {"mel": f"{current['mel']:.3f}", "total": f"{current['total']:.2f}"},
    )
    step, seconds = loop.steps, loop.seconds

    codec.eval()
    trained = evaluate()
    _save_final(codec, out_dir)
    metrics = {
        "out_dir": str(out_dir),
        "steps": step,
        "resumed_from": resumed_from,
        "seconds": round(seconds, 2),
        "train_clips": len(train_clips),
        "held_out_clips": len(held_clips),
        "eval_seconds": cfg.eval_seconds,
        **{f"{name}_{stage}": value for stage, result in (("untrained", untrained), ("trained", trained))
           for name, value in result.items()},
        **{f"min_codes_used_{stage}": min(result["codebook_usage"]) for stage, result in (("untrained", untrained), ("trained", trained))},
        **{f"mean_perplexity_{stage}": round(float(np.mean(result["codebook_perplexity"])), 2)
           for stage, result in (("untrained", untrained), ("trained", trained))},
        "onset_f1_original": None if held_onsets is None else onset_f1(
            held_onsets, [c[: int(cfg.eval_seconds * sr)] for c in held_clips], sr),
        "pitch_agreement_chance": pitch_agreement_chance([c[: int(cfg.eval_seconds * sr)] for c in held_clips], sr),
        "codes_revived": training.revival.revived_total.tolist(),
        "losses": losses,
        "sampling_rate": sr,
        "config": cfg.to_dict(),
    }
    atomic_write_json(out_dir / METRICS_FILE, metrics)
    return metrics


__all__ = [
    "AudioCodecTraining",
    "AudioCodecTrainingConfig",
    "audio_codec_step",
    "build_audio_codec_training",
    "codebook_usage",
    "evaluate_codec",
    "load_codec_training_audio",
    "load_held_out_onsets",
    "mel_distance",
    "multiscale_mel_loss",
    "random_crops",
    "resolve_training_config",
    "train_audio_codec",
]
