"""Slide segmentation on a synthetic score video built from the embedded corpus.

The video: a silent title card, then bands of corpus pages with their pieces' excerpt
audio, joined by hard cuts and crossfades, with a cursor sweeping each music slide.
"""

from __future__ import annotations

import numpy as np
import pytest

from umust_hf import constants
from umust_hf.data.audio_io import decode_audio as decode_cell
from umust_hf.ytsv.media import decode_audio, find_audio_file, load_video_audio, probe_video, wav_bytes
from umust_hf.ytsv.slides import SegmentationConfig, ink_change, segment_slides
from umust_hf.ytsv.synthetic import build_corpus_video, build_synthetic_video, corpus_slides, fit_on_canvas, title_card

SIZE = (480, 270)
SR = constants.SAMPLE_RATE
TRANSITIONS = ["cut", "cut", "fade", "fade"]


@pytest.fixture(scope="module")
def slides(embedded_corpus_dir):
    """Four bands of corpus pages (two pieces), each with an excerpt of its piece."""
    return corpus_slides(embedded_corpus_dir, 4)


@pytest.fixture(scope="module")
def excerpt_audio(embedded_corpus_dir) -> dict[str, np.ndarray]:
    """Every excerpt's audio, decoded straight from the corpus (independently of the builder)."""
    from datasets import load_from_disk

    audio = {}
    for split in load_from_disk(str(embedded_corpus_dir)).values():
        for row in split.select_columns(["id", "audio"]):
            samples, rate = decode_cell(row["audio"])
            assert rate == SR
            audio[row["id"]] = samples
    return audio


@pytest.fixture(scope="module")
def video(slides, tmp_path_factory):
    folder = tmp_path_factory.mktemp("video")
    built = build_corpus_video(folder / "synthetic01.mp4", slides, TRANSITIONS, fps=10, size=SIZE, fade_s=1.0)
    return built


def test_video_is_made_of_corpus_pages_and_audio(video, slides, excerpt_audio):
    assert video.transitions == TRANSITIONS
    assert len({s.piece_id for s in slides}) == 2  # cuts within a piece and between pieces
    assert video.excerpt_ids[0] is None and video.canvases[0] is None
    for slide, excerpt_id, (start, end) in zip(slides, video.excerpt_ids[1:], video.audio_spans[1:]):
        assert excerpt_id.split("@")[0] == slide.piece_id == slide.page.source.rpartition("#page")[0]
        np.testing.assert_array_equal(video.audio[start:end], excerpt_audio[excerpt_id])
        assert len(slide.page.system_boxes) >= 1 and len(slide.page.staff_boxes) >= len(slide.page.system_boxes)
    assert not video.audio[: video.audio_spans[1][0]].any()  # the title card is silent


def test_boundaries_within_a_tenth_of_a_second(video):
    found = segment_slides(video.path)
    assert len(found) == 5
    errors = np.abs(np.array([s.start for s in found[1:]]) - np.array(video.boundaries))
    assert errors.max() <= 0.1
    assert [s.transition for s in found] == ["start", "cut", "cut", "animated", "animated"]
    assert found[-1].end == pytest.approx(video.duration, abs=0.11)
    info = probe_video(video.path)
    for slide in found:  # each representative frame lies inside its slide
        assert slide.start <= slide.frame_index / info.fps < slide.end


def test_subsampled_analysis_keeps_boundaries_close(video):
    found = segment_slides(video.path, SegmentationConfig(sample_fps=5))
    assert len(found) == 5
    assert np.abs(np.array([s.start for s in found[1:]]) - np.array(video.boundaries)).max() <= 0.1


def test_heavily_compressed_video_keeps_boundaries_close(video, tmp_path):
    """Re-encoded as a low-bitrate H.264 (x264 CRF 35), a fade's faint ends drown in
    compression noise; the balance point keeps the boundary (run midpoint alone: 0.25 s off)."""
    import subprocess

    from umust_hf.ytsv.media import ffmpeg_exe

    lossy = tmp_path / "lossy.mp4"
    command = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(video.path), "-c:v", "libx264", "-crf", "35", "-pix_fmt", "yuv420p", str(lossy)]
    subprocess.run(command, check=True)
    found = segment_slides(lossy)
    assert len(found) == 5
    assert np.abs(np.array([s.start for s in found[1:]]) - np.array(video.boundaries)).max() <= 0.1


def test_audio_cut_at_found_boundaries_is_the_corpus_excerpt(video, excerpt_audio, tmp_path):
    """Cut the sibling (exact) and the embedded (AAC) tracks at the found times; each music
    segment holds its excerpt, shifted by the boundary error, and the title card is silent."""
    copy = tmp_path / "vid.mp4"
    copy.write_bytes(video.path.read_bytes())
    (tmp_path / "vid.wav").write_bytes(wav_bytes(video.audio))
    exact, _ = load_video_audio(copy)
    aac, _ = load_video_audio(video.path)
    found = segment_slides(video.path)
    title = exact[: int(round(found[0].end * SR))]
    assert np.sqrt(np.mean(title**2)) < 1e-4
    for slide, excerpt_id, true_span in zip(found[1:], video.excerpt_ids[1:], video.slide_spans[1:]):
        excerpt = excerpt_audio[excerpt_id]
        start, end = int(round(slide.start * SR)), int(round(slide.end * SR))
        shift = int(round(true_span[0] * SR)) - start  # > 0: the cut came early
        assert abs(shift) <= 0.1 * SR
        segment = exact[start:end]
        head = max(0, shift)
        overlap = min(len(segment) - head, len(excerpt) - max(0, -shift))
        assert overlap > 0.95 * len(excerpt)
        np.testing.assert_allclose(segment[head : head + overlap], excerpt[max(0, -shift) : max(0, -shift) + overlap], atol=1e-4)
        lossy = aac[start + head : start + head + overlap]
        reference = excerpt[max(0, -shift) : max(0, -shift) + len(lossy)]
        assert np.corrcoef(lossy, reference)[0, 1] > 0.95


def test_cursor_alone_is_not_a_slide_change(video, tmp_path):
    still = build_synthetic_video(tmp_path / "still.mp4", [video.canvases[3].image], [4.0], [], fps=10, size=SIZE, cursor=True)
    found = segment_slides(still.path)
    assert len(found) == 1 and found[0].start == 0.0


def test_ink_change_separates_cursor_from_new_slide(slides):
    a = fit_on_canvas(slides[0].page.image, SIZE)
    b = fit_on_canvas(slides[2].page.image, SIZE)
    with_cursor = a.copy()
    with_cursor[60:200, 100:104] = 40
    assert ink_change(a, with_cursor) < 0.2
    assert ink_change(a, b) > 0.6
    assert ink_change(a, a) == 0.0


def test_embedded_and_sibling_audio(video, tmp_path):
    audio, source = load_video_audio(video.path)
    assert source == video.path
    assert abs(len(audio) - len(video.audio)) <= 0.05 * SR  # AAC priming/padding
    # a sibling audio file (yt-dlp style) takes precedence and is read exactly
    copy = tmp_path / "vid.mp4"
    copy.write_bytes(video.path.read_bytes())
    (tmp_path / "vid.wav").write_bytes(wav_bytes(video.audio))
    assert find_audio_file(copy) == tmp_path / "vid.wav"
    sibling, source = load_video_audio(copy)
    assert source == tmp_path / "vid.wav"
    np.testing.assert_allclose(sibling, video.audio, atol=1e-4)


def test_unreadable_inputs_are_clear_errors(tmp_path):
    from umust_hf.errors import UserError

    bogus = tmp_path / "broken.mp4"
    bogus.write_bytes(b"not a video")
    with pytest.raises(UserError, match="broken.mp4"):
        probe_video(bogus)
    with pytest.raises(UserError, match="broken.mp4: cannot decode audio"):
        decode_audio(bogus)


def test_too_few_corpus_slides_is_a_clear_error(embedded_corpus_dir):
    from umust_hf.errors import UserError

    with pytest.raises(UserError, match="slides asked for"):
        corpus_slides(embedded_corpus_dir, 1000)
    with pytest.raises(UserError, match="not a built embedded corpus"):
        corpus_slides(embedded_corpus_dir / "raw", 1)


def test_slow_crossfades_including_from_a_title_card(video, tmp_path):
    """A 2.5 s fade spreads its ink change thinly over 25 samples; a fade out of a nearly
    empty title card barely changes ink at its start; a sparse single-staff band moves its
    thin grey lines by only a few levels per sample. All are found by their motion."""
    images = [title_card(SIZE), video.canvases[1].image, video.canvases[3].image]
    slow = build_synthetic_video(
        tmp_path / "slow.mp4", images, [4.0, 5.0, 4.0], ["fade", "fade"], fps=10, size=SIZE, fade_s=2.5, cursor=[False, True, True]
    )
    found = [s.start for s in segment_slides(slow.path)[1:]]
    assert len(found) == 2
    errors = np.abs(np.array(found) - np.array(slow.boundaries))
    assert errors.max() <= 0.1 + 1e-9  # float sums of frame times
