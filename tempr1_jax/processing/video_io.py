"""Video files -> sampled, resized uint8 frames with their timestamps (PyAV).

One sequential decode keeps the frames at the qwen-vl-utils indices (`vision.sample_frame_indices`). Sequential decode
beats seeking here: a seek decodes from the previous keyframe anyway, and with long GOPs that is most of the file.
Frames come out bit-identical to OpenCV and decord at the same indices.
"""
from __future__ import annotations

import dataclasses
import os
from fractions import Fraction

import av
import numpy as np

from tempr1_jax.processing import vision


VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")


class VideoDecodeError(ValueError):
    """A video that cannot be used. The message names the file; `reason` is one of REASONS, for bad-data reports."""

    REASONS = ("missing", "empty", "unreadable", "too_short", "corrupt")

    def __init__(self, path: str, reason: str, detail: str):
        assert reason in self.REASONS, reason
        super().__init__(f"{detail}: {path}")
        self.path, self.reason, self.detail = path, reason, detail

    def __reduce__(self):  # pickles with its three fields (across worker processes)
        return type(self), (self.path, self.reason, self.detail)


@dataclasses.dataclass(frozen=True)
class DecodedVideo:
    """A sampled clip, ready for `vision.patchify`.

    frames_THWC: uint8 [T, h, w, 3], resized to `vision.video_frame_size`; T is even.
    timestamps_T: float64 [T], seconds of each kept frame from the start of the video (its presentation time).
    frame_indices_T: int64 [T], indices of the kept frames among all decoded frames.
    sample_fps: frames per second of the clip as the model sees it (`second_per_grid_t` derives from it).
    duration: seconds of the whole video. video_fps, total_frames, original_hw: of the source stream.
    """

    path: str
    frames_THWC: np.ndarray
    timestamps_T: np.ndarray
    frame_indices_T: np.ndarray
    sample_fps: float
    duration: float
    video_fps: float
    total_frames: int
    original_hw: tuple[int, int]


def _open(path: str) -> av.container.InputContainer:
    if not os.path.isfile(path):
        raise VideoDecodeError(path, "missing", "video file not found")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "empty", "video file is empty (0 bytes)")
    try:
        container = av.open(path)
    except av.FFmpegError as e:
        raise VideoDecodeError(path, "unreadable", f"not a readable video ({e.strerror or e})") from e
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(path, "unreadable", "no video stream")
    return container


def _count_frames(path: str) -> int:
    """Exact frame count by demuxing (no decoding), for containers whose header has none or a wrong one."""
    with _open(path) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def _decode_at(path: str, indices: np.ndarray, hw: tuple[int, int]) -> tuple[list[np.ndarray], list[float], int]:
    """Decodes the whole stream once, keeping (resized) frames at `indices`; also returns how many frames it saw."""
    wanted = np.bincount(indices, minlength=int(indices.max()) + 1)  # an index may repeat when frames are few
    frames, times, seen = [], [], 0
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = stream.start_time or 0
        try:
            for i, frame in enumerate(container.decode(stream)):
                seen = i + 1
                if i < len(wanted) and wanted[i]:
                    rgb_HWC = frame.to_ndarray(format="rgb24")
                    resized_HWC = vision.resize_frames(rgb_HWC[None], *hw)[0]
                    t = float((frame.pts - start) * stream.time_base) if frame.pts is not None else np.nan
                    frames += [resized_HWC] * int(wanted[i])
                    times += [t] * int(wanted[i])
                if i + 1 >= len(wanted):
                    break
        except av.FFmpegError as e:
            raise VideoDecodeError(path, "corrupt", f"decoding failed after {seen} frames ({e})") from e
    return frames, times, seen


def find_video(video_dir: str, name: str) -> str:
    """The file for `name` under video_dir: as given, else with any usual video extension in place of its own or
    added to it (annotations often give bare ids, or .m4v names for files re-encoded to .mp4)."""
    path = os.path.join(video_dir, name)
    stem, ext = os.path.splitext(path)
    candidates = [path] + [base + e for base in ((stem, path) if ext in VIDEO_EXTENSIONS else (path,))
                           for e in VIDEO_EXTENSIONS]
    return next((c for c in candidates if os.path.isfile(c)), path)  # decode_video reports a missing one


def decode_video(path: str | os.PathLike, sampling: vision.VideoSampling = vision.VideoSampling()) -> DecodedVideo:
    """Samples `path` at `sampling.fps` with the qwen-vl-utils rules and TempR1's caps; see `DecodedVideo`."""
    path = os.fspath(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        video_fps = float(rate) if rate else 0.0
        height, width = stream.codec_context.height, stream.codec_context.width
        total_frames = stream.frames
        stream_duration = float(stream.duration * stream.time_base) if stream.duration else None
    if video_fps <= 0 or height <= 0 or width <= 0:
        raise VideoDecodeError(path, "unreadable", f"video stream has no frame rate or size (fps={video_fps}, {height}x{width})")
    if total_frames <= 0:
        total_frames = _count_frames(path)
    if total_frames < sampling.frame_factor:
        raise VideoDecodeError(path, "too_short", f"{total_frames} frame(s), fewer than {sampling.frame_factor}")

    def sample(total: int):
        indices = vision.sample_frame_indices(total, video_fps, sampling)
        hw = vision.video_frame_size(height, width, len(indices), sampling)
        return indices, hw, _decode_at(path, indices, hw)

    indices, hw, (frames, times, seen) = sample(total_frames)
    if len(frames) < len(indices):
        # The header over-counted (a truncated file, say): resample over the frames that really decode.
        if seen < sampling.frame_factor:
            raise VideoDecodeError(path, "corrupt", f"only {seen} of {total_frames} frames decode")
        total_frames, stream_duration = seen, None  # the header's duration counts the missing frames too
        indices, hw, (frames, times, seen) = sample(total_frames)
    timestamps_T = np.asarray(times, np.float64)
    fallback_T = indices / video_fps  # frames without a pts sit on the nominal frame grid
    timestamps_T = np.where(np.isnan(timestamps_T), fallback_T, timestamps_T)
    duration = stream_duration or total_frames / video_fps
    return DecodedVideo(
        path=path,
        frames_THWC=np.stack(frames),
        timestamps_T=timestamps_T,
        frame_indices_T=indices,
        sample_fps=vision.sampled_fps(len(indices), total_frames, video_fps),
        duration=float(duration),
        video_fps=video_fps,
        total_frames=int(total_frames),
        original_hw=(height, width),
    )


def try_decode_video(path: str, sampling: vision.VideoSampling) -> tuple[DecodedVideo | None, VideoDecodeError | None]:
    """`decode_video` that returns its VideoDecodeError instead of raising it: what a worker process maps over."""
    try:
        return decode_video(path, sampling), None
    except VideoDecodeError as e:
        return None, e


def write_video(path: str | os.PathLike, frames_THWC: np.ndarray, fps: float, crf: int = 18) -> None:
    """Encodes uint8 RGB frames as H.264 mp4 (yuv420p, so sides are rounded down to even); used by the synthetic
    corpus and the tests, so that they go through the same decode path as real videos."""
    if frames_THWC.dtype != np.uint8 or frames_THWC.ndim != 4 or frames_THWC.shape[-1] != 3:
        raise ValueError(f"write_video expects uint8 [T, H, W, 3], got {frames_THWC.dtype} {frames_THWC.shape}")
    _, height, width, _ = frames_THWC.shape
    with av.open(os.fspath(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width - width % 2, height - height % 2, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for frame_HWC in frames_THWC:
            frame = av.VideoFrame.from_ndarray(frame_HWC[: stream.height, : stream.width], format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
