"""PyAV decode: qwen-vl-utils frame selection, timestamps, resize, and errors that name the file."""
import dataclasses

import av
import numpy as np
import pytest

from tempr1_jax.processing import video_io, vision

SMALL = dataclasses.replace(vision.VideoSampling(), min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28)


def _ramp_video(path, frames=75, fps=25.0, hw=(48, 64)):
    """Frame t has red level 3t, so every decoded frame tells which source frame it is."""
    frames_THWC = np.zeros((frames, *hw, 3), np.uint8)
    frames_THWC[..., 0] = (np.arange(frames) * 3)[:, None, None]
    frames_THWC[..., 1] = np.linspace(0, 255, hw[1], dtype=np.uint8)  # some texture for the resize to act on
    video_io.write_video(path, frames_THWC, fps)
    return frames_THWC


def test_decode_keeps_sampled_frames_with_timestamps(tmp_path):
    path = tmp_path / "ramp.mp4"
    _ramp_video(path)
    clip = video_io.decode_video(path, SMALL)
    np.testing.assert_array_equal(clip.frame_indices_T, vision.sample_frame_indices(75, 25.0, SMALL))
    assert len(clip.frame_indices_T) == 6  # 3 s at 2 fps
    np.testing.assert_allclose(clip.timestamps_T, clip.frame_indices_T / 25.0, atol=1e-9)
    assert (clip.video_fps, clip.total_frames, clip.original_hw, clip.duration) == (25.0, 75, (48, 64), 3.0)
    assert clip.sample_fps == 2.0
    assert clip.frames_THWC.shape == (6, *vision.video_frame_size(48, 64, 6, SMALL), 3)
    assert clip.frames_THWC.dtype == np.uint8
    red = clip.frames_THWC[:, 20, 20, 0].astype(int)
    np.testing.assert_allclose(red, clip.frame_indices_T * 3, atol=3)  # the right frames, up to H.264 loss

    # Same pixels as decoding every frame and resizing the chosen ones.
    with av.open(str(path)) as container:
        all_THWC = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    expected = vision.resize_frames(all_THWC[clip.frame_indices_T], *clip.frames_THWC.shape[1:3])
    np.testing.assert_array_equal(clip.frames_THWC, expected)


def test_container_without_frame_count_and_truncated_stream(tmp_path):
    """MPEG-TS headers carry no frame count: frames are counted by demuxing; a cut file decodes what is there."""
    path = tmp_path / "ramp.ts"
    _ramp_video(path)
    assert video_io.decode_video(path, SMALL).total_frames == 75
    cut = tmp_path / "cut.ts"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) * 3 // 5])
    clip = video_io.decode_video(cut, SMALL)
    assert 2 <= clip.total_frames < 75
    assert clip.frame_indices_T.max() == clip.total_frames - 1
    assert clip.duration == pytest.approx(clip.total_frames / 25.0)


def test_header_that_overcounts_frames(tmp_path):
    """An mp4 with its index first (faststart) and its tail cut: the header promises 60 frames, 37 decode."""
    frames_THWC = np.random.default_rng(0).integers(0, 255, (60, 48, 64, 3), np.uint8)
    path = tmp_path / "faststart.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=20)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for frame_HWC in frames_THWC:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame_HWC, format="rgb24")))
        container.mux(stream.encode())
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    with av.open(str(cut)) as container:
        assert container.streams.video[0].frames == 60
    clip = video_io.decode_video(cut, SMALL)
    assert 2 <= clip.total_frames < 60 and clip.frame_indices_T[-1] == clip.total_frames - 1
    assert clip.duration == pytest.approx(clip.total_frames / 20)
    np.testing.assert_array_equal(clip.frame_indices_T, vision.sample_frame_indices(clip.total_frames, 20.0, SMALL))


def test_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(video_io.VideoDecodeError, match="not found.*missing.mp4") as e:
        video_io.decode_video(missing)
    assert e.value.reason == "missing"
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(video_io.VideoDecodeError, match="empty.*empty.mp4"):
        video_io.decode_video(empty)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50)
    with pytest.raises(video_io.VideoDecodeError, match="notes.mp4"):
        video_io.decode_video(text)
    good = tmp_path / "good.mp4"
    _ramp_video(good, frames=20)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[:-400])  # the mp4 index (moov) sits at the end
    with pytest.raises(video_io.VideoDecodeError, match="truncated.mp4"):
        video_io.decode_video(truncated)
    one = tmp_path / "one_frame.mp4"
    _ramp_video(one, frames=1)
    with pytest.raises(video_io.VideoDecodeError, match="1 frame") as e:
        video_io.decode_video(one)
    assert e.value.reason == "too_short" and e.value.path == str(one)
    assert issubclass(video_io.VideoDecodeError, ValueError)
