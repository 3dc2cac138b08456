"""Model configuration of both families (Qwen2.5-VL, Qwen3-VL): dataclasses, the public checkpoints' presets, and
Hugging Face config.json conversion."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping


@dataclasses.dataclass(frozen=True)
class VisionConfig:
    depth: int
    hidden_size: int
    num_heads: int
    intermediate_size: int
    out_hidden_size: int
    fullatt_block_indexes: tuple[int, ...]
    patch_size: int = 14
    temporal_patch_size: int = 2
    spatial_merge_size: int = 2
    in_channels: int = 3
    window_size: int = 112  # pixels
    tokens_per_second: float = 2.0
    rms_norm_eps: float = 1e-6  # hard-coded in the reference implementation

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def patch_dim(self) -> int:
        return self.in_channels * self.temporal_patch_size * self.patch_size**2

    @property
    def merge_unit(self) -> int:
        return self.spatial_merge_size**2

    @property
    def window_merged(self) -> int:
        """Window side in merged tokens."""
        return self.window_size // self.spatial_merge_size // self.patch_size


@dataclasses.dataclass(frozen=True)
class TextConfig:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    mrope_section: tuple[int, int, int]
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1_000_000.0
    tie_word_embeddings: bool = False
    max_position_embeddings: int = 128_000
    # Where the Qwen2 (Qwen2.5-VL) and Qwen3 (Qwen3-VL) decoders differ; the defaults are Qwen2's.
    qkv_bias: bool = True
    o_bias: bool = False
    qk_norm: bool = False  # Qwen3: RMSNorm over each head of q and k before the rotary embedding
    mrope_interleaved: bool = False  # Qwen3-VL: frequencies cycle t, h, w instead of contiguous t | h | w sections
    explicit_head_dim: int | None = None  # Qwen3 sets head_dim apart from hidden_size / heads
    # Runtime choices, not part of the checkpoint (`models.attention`): "auto" | "dense" | "blockwise" | "cudnn", and
    # the key block of the blockwise path (also the length up to which "auto" stays dense).
    attention: str = "auto"
    attention_block_kv: int = 512
    # What the backward pass keeps of each scanned decoder layer (`layers.remat`): "full" recomputes the layer.
    remat: str = "full"

    @property
    def head_dim(self) -> int:
        return self.explicit_head_dim or self.hidden_size // self.num_attention_heads


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    text: TextConfig
    vision: VisionConfig
    image_token_id: int = 151655
    video_token_id: int = 151656
    vision_start_token_id: int = 151652
    vision_end_token_id: int = 151653
    bos_token_id: int = 151643
    eos_token_id: int = 151645
    pad_token_id: int = 151643
    # Processor option, off for Qwen2.5-VL's checkpoints: each frame group of a video is its own vision span after
    # its start time as text (`processing.timestamps`), and its temporal positions restart at the span.
    text_timestamps: bool = False
    # With text_timestamps: "before" each group (Qwen3-VL's layout) or "after" it. After, the time text can attend to
    # its own group and the one before it (causal attention), so the timestamp where an event starts or ends can
    # itself hold "the object appears/vanishes here", and an answer copies it in one step (README, the demo).
    timestamp_position: str = "before"

    family = "qwen2_5_vl"  # the config.json model_type; `Qwen3VLConfig` overrides it

    def __post_init__(self):
        problems = self._problems()
        if problems:
            raise ValueError(f"invalid {self.family} config: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        """What both families require of the text model, the vision output and the special ids."""
        v, t = self.vision, self.text
        problems = []
        if self.timestamp_position not in ("before", "after"):
            problems.append(f"timestamp_position {self.timestamp_position!r}: expected 'before' or 'after'")
        if v.out_hidden_size != t.hidden_size:
            problems.append(f"vision.out_hidden_size {v.out_hidden_size} != text.hidden_size {t.hidden_size}")
        if 2 * sum(t.mrope_section) != t.head_dim:
            problems.append(f"2 * sum(mrope_section {t.mrope_section}) != text head_dim {t.head_dim}")
        if v.head_dim % 4:
            problems.append(f"vision head_dim {v.head_dim} must be divisible by 4 (2-D rotary halves)")
        if t.num_attention_heads % t.num_key_value_heads:
            problems.append(f"num_attention_heads {t.num_attention_heads} not a multiple of kv heads {t.num_key_value_heads}")
        for name in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id"):
            if not 0 <= getattr(self, name) < t.vocab_size:
                problems.append(f"{name} {getattr(self, name)} outside vocab_size {t.vocab_size}")
        if v.window_merged is not None and v.window_merged < 1:
            problems.append(f"window_size {v.window_size} is smaller than one merged token")
        if any(not 0 <= i < v.depth for i in getattr(v, "fullatt_block_indexes", ())):
            problems.append(f"fullatt_block_indexes {v.fullatt_block_indexes} outside depth {v.depth}")
        return problems

    # ---- Hugging Face config.json -------------------------------------------------------------------------------
    @classmethod
    def from_hf_dict(cls, d: Mapping[str, Any]) -> "ModelConfig":
        """Reads the hub's flat config.json and the nested `text_config` form alike."""
        text = dict(d)
        text.update(d.get("text_config") or {})
        rope = text.get("rope_parameters") or text.get("rope_scaling") or {}
        try:
            mrope = tuple(int(x) for x in rope["mrope_section"])
            vis = dict(d["vision_config"])
            tc = TextConfig(
                vocab_size=int(text["vocab_size"]),
                hidden_size=int(text["hidden_size"]),
                intermediate_size=int(text["intermediate_size"]),
                num_hidden_layers=int(text["num_hidden_layers"]),
                num_attention_heads=int(text["num_attention_heads"]),
                num_key_value_heads=int(text["num_key_value_heads"]),
                mrope_section=mrope,
                rms_norm_eps=float(text["rms_norm_eps"]),
                rope_theta=float(rope.get("rope_theta", text.get("rope_theta", 1_000_000.0))),
                tie_word_embeddings=bool(d.get("tie_word_embeddings", text.get("tie_word_embeddings", False))),
                max_position_embeddings=int(text.get("max_position_embeddings", 128_000)),
            )
            vc = VisionConfig(
                depth=int(vis["depth"]),
                hidden_size=int(vis["hidden_size"]),
                num_heads=int(vis["num_heads"]),
                intermediate_size=int(vis["intermediate_size"]),
                out_hidden_size=int(vis["out_hidden_size"]),
                fullatt_block_indexes=tuple(int(i) for i in vis["fullatt_block_indexes"]),
                patch_size=int(vis.get("patch_size", 14)),
                temporal_patch_size=int(vis.get("temporal_patch_size", 2)),
                spatial_merge_size=int(vis.get("spatial_merge_size", 2)),
                in_channels=int(vis.get("in_channels", vis.get("in_chans", 3))),
                window_size=int(vis["window_size"]),
                tokens_per_second=float(vis["tokens_per_second"]),
            )
        except KeyError as e:
            raise KeyError(f"Qwen2.5-VL config.json lacks the field {e.args[0]!r}") from None
        for act in (text.get("hidden_act", "silu"), vis.get("hidden_act", "silu")):
            if act != "silu":
                raise ValueError(f"hidden_act {act!r} is not supported: Qwen2.5-VL uses silu")
        ids = {k: int(text[k]) for k in ("image_token_id", "video_token_id", "vision_start_token_id",
                                         "vision_end_token_id", "bos_token_id", "eos_token_id", "pad_token_id")
               if text.get(k) is not None}
        return cls(text=tc, vision=vc, **ids, text_timestamps=bool(d.get("text_timestamps", False)),
                   timestamp_position=str(d.get("timestamp_position", "before")))

    def to_hf_dict(self) -> dict[str, Any]:
        """The hub's flat layout, which transformers 4.49+ and 5.x both read."""
        t, v = self.text, self.vision
        return {
            "architectures": ["Qwen2_5_VLForConditionalGeneration"],
            "model_type": "qwen2_5_vl",
            "vocab_size": t.vocab_size,
            "hidden_size": t.hidden_size,
            "intermediate_size": t.intermediate_size,
            "num_hidden_layers": t.num_hidden_layers,
            "num_attention_heads": t.num_attention_heads,
            "num_key_value_heads": t.num_key_value_heads,
            "hidden_act": "silu",
            "rms_norm_eps": t.rms_norm_eps,
            "rope_theta": t.rope_theta,
            "rope_scaling": {"type": "mrope", "mrope_section": list(t.mrope_section)},
            "max_position_embeddings": t.max_position_embeddings,
            "use_sliding_window": False,
            "attention_dropout": 0.0,
            "tie_word_embeddings": t.tie_word_embeddings,
            "image_token_id": self.image_token_id,
            "video_token_id": self.video_token_id,
            "vision_start_token_id": self.vision_start_token_id,
            "vision_end_token_id": self.vision_end_token_id,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "pad_token_id": self.pad_token_id,
            "torch_dtype": "float32",
            "vision_config": {
                "depth": v.depth,
                "hidden_size": v.hidden_size,
                "num_heads": v.num_heads,
                "intermediate_size": v.intermediate_size,
                "out_hidden_size": v.out_hidden_size,
                "fullatt_block_indexes": list(v.fullatt_block_indexes),
                "patch_size": v.patch_size,
                "temporal_patch_size": v.temporal_patch_size,
                "spatial_merge_size": v.spatial_merge_size,
                "in_channels": v.in_channels,
                "in_chans": v.in_channels,
                "window_size": v.window_size,
                # transformers validates this field as an int; the shipped checkpoints use 2.
                "tokens_per_second": int(v.tokens_per_second) if float(v.tokens_per_second).is_integer()
                else v.tokens_per_second,
                "hidden_act": "silu",
            },
            # Only where set, so that Qwen2.5-VL exports keep the public config.json's fields exactly.
            **({"text_timestamps": True} if self.text_timestamps else {}),
            **({"timestamp_position": self.timestamp_position} if self.timestamp_position != "before" else {}),
        }


_QWEN_VISION = dict(depth=32, hidden_size=1280, num_heads=16, intermediate_size=3420,
                    fullatt_block_indexes=(7, 15, 23, 31), window_size=112, tokens_per_second=2.0)


def qwen2_5_vl_3b() -> ModelConfig:
    """Qwen/Qwen2.5-VL-3B-Instruct config.json."""
    return ModelConfig(
        text=TextConfig(vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                        num_attention_heads=16, num_key_value_heads=2, mrope_section=(16, 24, 24),
                        tie_word_embeddings=True),
        vision=VisionConfig(out_hidden_size=2048, **_QWEN_VISION),
    )


def qwen2_5_vl_7b() -> ModelConfig:
    """Qwen/Qwen2.5-VL-7B-Instruct config.json."""
    return ModelConfig(
        text=TextConfig(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                        num_attention_heads=28, num_key_value_heads=4, mrope_section=(16, 24, 24),
                        tie_word_embeddings=False),
        vision=VisionConfig(out_hidden_size=3584, **_QWEN_VISION),
    )


def tiny(vocab_size: int = 151936, tie_word_embeddings: bool = False) -> ModelConfig:
    """A few-hundred-thousand-parameter model for tests: GQA, windows with padding windows, both attention kinds.

    With a vocabulary too small for Qwen's special ids, it takes those of the small tokenizers
    (`processing.tokenizer.train_small_tokenizer`), as the demo preset does.
    """
    ids = {} if vocab_size > 151656 else SMALL_VOCAB_IDS
    return ModelConfig(**ids,
        text=TextConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, mrope_section=(2, 3, 3),
                        tie_word_embeddings=tie_word_embeddings, max_position_embeddings=4096),
        vision=VisionConfig(depth=4, hidden_size=32, num_heads=2, intermediate_size=48, out_hidden_size=64,
                            fullatt_block_indexes=(1, 3), window_size=56, tokens_per_second=2.0),
    )


# The special ids of `processing.tokenizer.train_small_tokenizer` (SMALL_SPECIAL_TOKENS order).
SMALL_VOCAB_IDS = dict(pad_token_id=0, bos_token_id=0, eos_token_id=2, vision_start_token_id=3,
                       vision_end_token_id=4, image_token_id=5, video_token_id=6)


def demo() -> ModelConfig:
    """A small model that trains on a laptop CPU in minutes: 4 text layers of width 128 and a 2-block vision tower of
    width 64 (one window, one full-attention block), over a 1024-id vocabulary whose special ids are those of
    `processing.tokenizer.train_small_tokenizer` (Qwen's 151k-row head would cost 20x the rest of the model)."""
    return ModelConfig(
        **SMALL_VOCAB_IDS,
        text=TextConfig(vocab_size=1024, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
                        num_attention_heads=4, num_key_value_heads=2, mrope_section=(4, 6, 6),
                        tie_word_embeddings=True, max_position_embeddings=8192),
        vision=VisionConfig(depth=2, hidden_size=64, num_heads=2, intermediate_size=128, out_hidden_size=128,
                            fullatt_block_indexes=(1,), window_size=112, tokens_per_second=2.0),
    )


# ---- Qwen3-VL --------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Qwen3VisionConfig:
    """The Qwen3-VL vision tower: a plain ViT (LayerNorm, GELU-tanh MLP, attention per frame, no windows) with a
    learned square position table interpolated to each grid, and DeepStack mergers after some blocks."""

    depth: int
    hidden_size: int
    num_heads: int
    intermediate_size: int
    out_hidden_size: int
    deepstack_visual_indexes: tuple[int, ...]
    num_position_embeddings: int = 2304
    patch_size: int = 16
    temporal_patch_size: int = 2
    spatial_merge_size: int = 2
    in_channels: int = 3
    layer_norm_eps: float = 1e-6  # hard-coded in the reference implementation
    window_merged = None  # no windowed attention: every block attends within one frame

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def patch_dim(self) -> int:
        return self.in_channels * self.temporal_patch_size * self.patch_size**2

    @property
    def merge_unit(self) -> int:
        return self.spatial_merge_size**2

    @property
    def num_grid_per_side(self) -> int:
        return int(self.num_position_embeddings**0.5)


@dataclasses.dataclass(frozen=True)
class Qwen3VLConfig(ModelConfig):
    """Qwen3-VL dense: the Qwen3 decoder (QK-norm, no attention biases, explicit head_dim, interleaved M-RoPE) and
    `Qwen3VisionConfig`. Special ids are Qwen2.5-VL's (the same 151,643 + specials vocabulary)."""

    vision: Qwen3VisionConfig
    family = "qwen3_vl"

    def _problems(self) -> list[str]:
        v, t = self.vision, self.text
        problems = super()._problems()
        if not (t.qk_norm and t.mrope_interleaved):
            problems.append("the text config must set qk_norm and mrope_interleaved")
        if any(not 0 <= i < v.depth for i in v.deepstack_visual_indexes):
            problems.append(f"deepstack_visual_indexes {v.deepstack_visual_indexes} outside depth {v.depth}")
        if len(v.deepstack_visual_indexes) > t.num_hidden_layers:
            problems.append(f"{len(v.deepstack_visual_indexes)} DeepStack features for {t.num_hidden_layers} layers")
        if v.num_grid_per_side**2 != v.num_position_embeddings:
            problems.append(f"num_position_embeddings {v.num_position_embeddings} is not a square")
        if self.text_timestamps:
            problems.append("text_timestamps is a Qwen2.5-VL processor option: Qwen3-VL always writes timestamps")
        return problems

    @classmethod
    def from_hf_dict(cls, d: Mapping[str, Any]) -> "Qwen3VLConfig":
        """The hub's nested config.json (`text_config`, `vision_config`); top-level text fields are read too."""
        text = dict(d)
        text.update(d.get("text_config") or {})
        rope = text.get("rope_parameters") or text.get("rope_scaling") or {}
        try:
            vis = dict(d["vision_config"])
            attention_bias = bool(text.get("attention_bias", False))
            tc = TextConfig(
                vocab_size=int(text["vocab_size"]),
                hidden_size=int(text["hidden_size"]),
                intermediate_size=int(text["intermediate_size"]),
                num_hidden_layers=int(text["num_hidden_layers"]),
                num_attention_heads=int(text["num_attention_heads"]),
                num_key_value_heads=int(text.get("num_key_value_heads") or text["num_attention_heads"]),
                mrope_section=tuple(int(x) for x in rope.get("mrope_section", (24, 20, 20))),
                rms_norm_eps=float(text["rms_norm_eps"]),
                rope_theta=float(rope.get("rope_theta", text.get("rope_theta", 5_000_000.0))),
                tie_word_embeddings=bool(d.get("tie_word_embeddings", text.get("tie_word_embeddings", False))),
                max_position_embeddings=int(text.get("max_position_embeddings", 262_144)),
                qkv_bias=attention_bias, o_bias=attention_bias, qk_norm=True, mrope_interleaved=True,
                explicit_head_dim=int(text.get("head_dim") or int(text["hidden_size"]) // int(text["num_attention_heads"])),
            )
            vc = Qwen3VisionConfig(
                depth=int(vis["depth"]),
                hidden_size=int(vis["hidden_size"]),
                num_heads=int(vis["num_heads"]),
                intermediate_size=int(vis["intermediate_size"]),
                out_hidden_size=int(vis["out_hidden_size"]),
                deepstack_visual_indexes=tuple(int(i) for i in vis["deepstack_visual_indexes"]),
                num_position_embeddings=int(vis.get("num_position_embeddings", 2304)),
                patch_size=int(vis.get("patch_size", 16)),
                temporal_patch_size=int(vis.get("temporal_patch_size", 2)),
                spatial_merge_size=int(vis.get("spatial_merge_size", 2)),
                in_channels=int(vis.get("in_channels", 3)),
            )
        except KeyError as e:
            raise KeyError(f"Qwen3-VL config.json lacks the field {e.args[0]!r}") from None
        for act, want in ((text.get("hidden_act", "silu"), "silu"),
                          (vis.get("hidden_act", "gelu_pytorch_tanh"), "gelu_pytorch_tanh")):
            if act != want:
                raise ValueError(f"hidden_act {act!r} is not supported: Qwen3-VL uses {want}")
        ids = {k: int(v) for k in ("image_token_id", "video_token_id", "vision_start_token_id",
                                   "vision_end_token_id", "bos_token_id", "eos_token_id", "pad_token_id")
               if (v := d.get(k, text.get(k))) is not None}
        return cls(text=tc, vision=vc, **ids)

    def to_hf_dict(self) -> dict[str, Any]:
        """The hub's nested layout, which transformers 4.57+ reads."""
        t, v = self.text, self.vision
        return {
            "architectures": ["Qwen3VLForConditionalGeneration"],
            "model_type": "qwen3_vl",
            "image_token_id": self.image_token_id,
            "video_token_id": self.video_token_id,
            "vision_start_token_id": self.vision_start_token_id,
            "vision_end_token_id": self.vision_end_token_id,
            "tie_word_embeddings": t.tie_word_embeddings,
            "torch_dtype": "float32",
            "text_config": {
                "model_type": "qwen3_vl_text",
                "vocab_size": t.vocab_size,
                "hidden_size": t.hidden_size,
                "intermediate_size": t.intermediate_size,
                "num_hidden_layers": t.num_hidden_layers,
                "num_attention_heads": t.num_attention_heads,
                "num_key_value_heads": t.num_key_value_heads,
                "head_dim": t.head_dim,
                "hidden_act": "silu",
                "rms_norm_eps": t.rms_norm_eps,
                "rope_theta": t.rope_theta,
                "rope_scaling": {"rope_type": "default", "mrope_section": list(t.mrope_section),
                                 "mrope_interleaved": True},
                "max_position_embeddings": t.max_position_embeddings,
                "attention_bias": t.qkv_bias,
                "attention_dropout": 0.0,
                "tie_word_embeddings": t.tie_word_embeddings,
                "bos_token_id": self.bos_token_id,
                "eos_token_id": self.eos_token_id,
                "pad_token_id": self.pad_token_id,
            },
            "vision_config": {
                "model_type": "qwen3_vl",
                "depth": v.depth,
                "hidden_size": v.hidden_size,
                "num_heads": v.num_heads,
                "intermediate_size": v.intermediate_size,
                "out_hidden_size": v.out_hidden_size,
                "deepstack_visual_indexes": list(v.deepstack_visual_indexes),
                "num_position_embeddings": v.num_position_embeddings,
                "patch_size": v.patch_size,
                "temporal_patch_size": v.temporal_patch_size,
                "spatial_merge_size": v.spatial_merge_size,
                "in_channels": v.in_channels,
                "hidden_act": "gelu_pytorch_tanh",
            },
        }


def _qwen3_text(**kw) -> TextConfig:
    return TextConfig(**{**dict(vocab_size=151936, num_key_value_heads=8, mrope_section=(24, 20, 20),
                                rope_theta=5_000_000.0, max_position_embeddings=262_144, qkv_bias=False,
                                o_bias=False, qk_norm=True, mrope_interleaved=True, explicit_head_dim=128), **kw})


_QWEN3_VISION_SMALL = dict(depth=24, hidden_size=1024, num_heads=16, intermediate_size=4096,
                           deepstack_visual_indexes=(5, 11, 17))
_QWEN3_VISION_LARGE = dict(depth=27, hidden_size=1152, num_heads=16, intermediate_size=4304,
                           deepstack_visual_indexes=(8, 16, 24))


def qwen3_vl_2b() -> Qwen3VLConfig:
    """Qwen/Qwen3-VL-2B-Instruct config.json."""
    return Qwen3VLConfig(
        text=_qwen3_text(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16,
                         tie_word_embeddings=True),
        vision=Qwen3VisionConfig(out_hidden_size=2048, **_QWEN3_VISION_SMALL))


def qwen3_vl_4b() -> Qwen3VLConfig:
    """Qwen/Qwen3-VL-4B-Instruct config.json."""
    return Qwen3VLConfig(
        text=_qwen3_text(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
                         tie_word_embeddings=True),
        vision=Qwen3VisionConfig(out_hidden_size=2560, **_QWEN3_VISION_SMALL))


def qwen3_vl_8b() -> Qwen3VLConfig:
    """Qwen/Qwen3-VL-8B-Instruct config.json."""
    return Qwen3VLConfig(
        text=_qwen3_text(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36, num_attention_heads=32),
        vision=Qwen3VisionConfig(out_hidden_size=4096, **_QWEN3_VISION_LARGE))


def qwen3_vl_32b() -> Qwen3VLConfig:
    """Qwen/Qwen3-VL-32B-Instruct config.json."""
    return Qwen3VLConfig(
        text=_qwen3_text(hidden_size=5120, intermediate_size=25600, num_hidden_layers=64, num_attention_heads=64),
        vision=Qwen3VisionConfig(out_hidden_size=5120, **_QWEN3_VISION_LARGE))


def qwen3_tiny(vocab_size: int = 151936, tie_word_embeddings: bool = False) -> Qwen3VLConfig:
    """A tiny Qwen3-VL for tests: GQA, head_dim apart from hidden / heads, two DeepStack features into a 3-layer
    decoder, a 6x6 position table (so every grid interpolates). Small vocabularies take the small tokenizers' ids."""
    ids = {} if vocab_size > 151656 else SMALL_VOCAB_IDS
    return Qwen3VLConfig(**ids,
        text=TextConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                        num_attention_heads=4, num_key_value_heads=2, mrope_section=(4, 2, 2), rope_theta=5e6,
                        tie_word_embeddings=tie_word_embeddings, max_position_embeddings=4096, qkv_bias=False,
                        o_bias=False, qk_norm=True, mrope_interleaved=True, explicit_head_dim=16),
        vision=Qwen3VisionConfig(depth=3, hidden_size=32, num_heads=2, intermediate_size=48, out_hidden_size=64,
                                 deepstack_visual_indexes=(0, 2), num_position_embeddings=36, patch_size=8),
    )


PRESETS = {"qwen2_5_vl_3b": qwen2_5_vl_3b, "qwen2_5_vl_7b": qwen2_5_vl_7b, "tiny": tiny, "demo": demo,
           "tiny_small": lambda: tiny(vocab_size=512),  # tiny over a 512-id small tokenizer, for training tests
           "qwen3_vl_2b": qwen3_vl_2b, "qwen3_vl_4b": qwen3_vl_4b, "qwen3_vl_8b": qwen3_vl_8b,
           "qwen3_vl_32b": qwen3_vl_32b, "qwen3_tiny": qwen3_tiny, "qwen3_tiny_small": lambda: qwen3_tiny(512)}


def config_from_hf_dict(d: Mapping[str, Any]) -> ModelConfig:
    """A config.json of either family, by its model_type."""
    kinds = {"qwen2_5_vl": ModelConfig, "qwen3_vl": Qwen3VLConfig}
    kind = d.get("model_type", "qwen2_5_vl")  # the oldest Qwen2.5-VL exports carry none
    if kind not in kinds:
        raise ValueError(f"model_type {kind!r} is not supported; supported: {', '.join(kinds)}")
    return kinds[kind].from_hf_dict(d)


def preset(name: str) -> ModelConfig:
    if name not in PRESETS:
        raise KeyError(f"unknown model preset {name!r}; known presets: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]()
