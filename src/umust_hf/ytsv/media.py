"""Video and audio input/output for score videos.

Frames come from OpenCV. Audio comes from a sibling audio file (``VIDEO_ID.wav``,
``.m4a``, ``.opus``... as yt-dlp writes them) when there is one, else from the video's own
audio track; both are decoded by the ffmpeg binary that the ``imageio-ffmpeg`` wheel ships
(no system ffmpeg is needed) to 44.1 kHz mono float32.
"""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import constants
from ..errors import UserError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi")
AUDIO_SUFFIXES = (".wav", ".flac", ".m4a", ".mp3", ".opus", ".ogg", ".aac", ".weba")


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with ``imageio-ffmpeg``."""
    try:
        import imageio_ffmpeg  # optional: imageio-ffmpeg (a guarded import)
    except ImportError as error:  # pragma: no cover - declared dependency
        raise UserError("the YTSV pipeline needs the 'imageio-ffmpeg' package (pip install imageio-ffmpeg)") from error
    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass
class VideoInfo:
    """What OpenCV reports about a video."""

    fps: float
    frame_count: int
    width: int
    height: int

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


def _open(path: str | os.PathLike[str]):
    import cv2  # heavy: cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise UserError(f"{path}: cannot open video (missing file or unsupported codec)")
    return capture


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Frame rate, frame count and size of a video."""
    import cv2  # heavy: cv2

    capture = _open(path)
    try:
        info = VideoInfo(
            fps=float(capture.get(cv2.CAP_PROP_FPS) or 0.0),
            frame_count=int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0),
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
        )
    finally:
        capture.release()
    if info.fps <= 0 or info.width <= 0:
        raise UserError(f"{path}: video reports no frame rate or size")
    return info


def iter_sampled_frames(
    path: str | os.PathLike[str], *, sample_fps: float, width: int
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(frame_index, time_s, gray)`` every ``fps / sample_fps`` frames.

    ``gray`` is ``(h, width)`` uint8, downscaled with area averaging. Frames that are not
    sampled are only grabbed (decoded, not converted).
    """
    import cv2  # heavy: cv2

    info = probe_video(path)
    stride = max(1, int(round(info.fps / sample_fps)))
    capture = _open(path)
    try:
        index = 0
        while capture.grab():
            if index % stride == 0:
                ok, frame = capture.retrieve()
                if not ok:
                    break
                gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
                height = max(1, int(round(gray.shape[0] * width / gray.shape[1])))
                yield index, index / info.fps, cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)
            index += 1
    finally:
        capture.release()


def read_frames(path: str | os.PathLike[str], indices: Sequence[int]) -> dict[int, np.ndarray]:
    """Full-resolution ``(H, W)`` uint8 grayscale frames at ``indices`` (one sequential pass)."""
    import cv2  # heavy: cv2

    wanted = set(int(i) for i in indices)
    frames: dict[int, np.ndarray] = {}
    if not wanted:
        return frames
    last = max(wanted)
    capture = _open(path)
    try:
        index = 0
        while index <= last and capture.grab():
            if index in wanted:
                ok, frame = capture.retrieve()
                if ok:
                    frames[index] = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
            index += 1
    finally:
        capture.release()
    return frames


def find_audio_file(video_path: str | os.PathLike[str]) -> Path | None:
    """A sibling audio file with the video's stem (``ID.mp4`` -> ``ID.m4a``...), if any."""
    video_path = Path(video_path)
    for suffix in AUDIO_SUFFIXES:
        candidate = video_path.with_suffix(suffix)
        if candidate.exists():
            return candidate
    return None


def decode_audio(path: str | os.PathLike[str], *, sampling_rate: int = constants.SAMPLE_RATE) -> np.ndarray:
    """Decode any audio (or the audio track of a video) to ``(N,)`` float32 mono.

    Raises :class:`UserError` when the file has no audio stream or ffmpeg cannot read it.
    """
    command = [ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-vn", "-ac", "1", "-ar", str(sampling_rate), "-f", "f32le", "-"]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UserError(f"{path}: cannot decode audio ({message[-1] if message else 'ffmpeg failed'})")
    samples = np.frombuffer(result.stdout, dtype="<f4").copy()
    if samples.size == 0:
        raise UserError(f"{path}: no audio stream (put an audio file named like the video beside it)")
    return samples


def load_video_audio(video_path: str | os.PathLike[str], *, sampling_rate: int = constants.SAMPLE_RATE) -> tuple[np.ndarray, Path]:
    """Audio of a score video: the sibling audio file if present, else the embedded track.

    Returns ``((N,) float32 mono, source path)``.
    """
    source = find_audio_file(video_path) or Path(video_path)
    return decode_audio(source, sampling_rate=sampling_rate), source


def wav_bytes(samples: np.ndarray, sampling_rate: int = constants.SAMPLE_RATE) -> bytes:
    """``(N,)`` float audio -> 16-bit PCM WAV file bytes."""
    import soundfile  # heavy: soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(samples, -1.0, 1.0), sampling_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def write_video(
    frames: Iterator[np.ndarray] | Sequence[np.ndarray],
    path: str | os.PathLike[str],
    *,
    fps: float,
    size: tuple[int, int],
    audio: np.ndarray | None = None,
    sampling_rate: int = constants.SAMPLE_RATE,
) -> Path:
    """Encode ``(H, W)`` uint8 grayscale frames (``size = (W, H)``, even numbers) to MP4,
    with ``audio`` muxed as AAC when given. Written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        command = [ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-"]
        if audio is not None:
            wav = Path(scratch) / "audio.wav"
            wav.write_bytes(wav_bytes(audio, sampling_rate))
            command += ["-i", str(wav), "-c:a", "aac", "-b:a", "128k"]
        target = Path(scratch) / f"video{path.suffix or '.mp4'}"
        command += ["-c:v", "mpeg4", "-q:v", "2", "-pix_fmt", "yuv420p", str(target)]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stdin is not None
        for frame in frames:
            if frame.shape != (height, width):
                raise ValueError(f"frame of shape {frame.shape}, expected {(height, width)}")
            process.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        process.stdin.close()
        error = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
        if process.wait() != 0:
            raise RuntimeError(f"ffmpeg failed writing {path}: {error.strip()}")
        os.replace(target, path)
    return path
