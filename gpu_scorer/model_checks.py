"""Checks of a submitted ONNX model before anything runs it: size, that it parses, no external data, only the
standard operator domains, and the task's signature (input/output names, float dtype, shapes, a batch
dimension that is dynamic or 1). Each refusal is a reason the participant can act on."""

from __future__ import annotations

from dataclasses import dataclass

import onnx
from onnx import TensorProto
from onnx.external_data_helper import uses_external_data

from proto.competition import ModelSignature

# ONNX's own operator sets; anything else needs a custom kernel we would have to trust.
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
FLOAT_TYPES = {TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16", TensorProto.DOUBLE: "float64"}


class ModelRejected(ValueError):
    pass


@dataclass(frozen=True)
class CheckedModel:
    data: bytes
    input_dtype: str
    batch_fixed_to_one: bool


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in value.type.tensor_type.shape.dim]


def check_model(data: bytes, signature: ModelSignature, sample_shape: tuple[int, ...], max_bytes: int
                ) -> CheckedModel:
    if len(data) > max_bytes:
        raise ModelRejected(f"the model is {len(data)} bytes, over the task's limit of {max_bytes}")
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ModelRejected(f"not an ONNX model that can be read ({type(exc).__name__})") from None
    tensors = list(model.graph.initializer) + [
        attr.t for node in model.graph.node for attr in node.attribute if attr.HasField("t")]
    if any(uses_external_data(t) for t in tensors):
        raise ModelRejected("the model refers to external data files; embed every weight in the .onnx file")
    domains = {op.domain for op in model.opset_import} | {node.domain for node in model.graph.node}
    custom = sorted(domains - STANDARD_DOMAINS)
    if custom:
        raise ModelRejected(f"custom operator domains are not allowed: {', '.join(custom)}")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelRejected(f"the model is not valid ONNX: {str(exc).splitlines()[0][:300]}") from None
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if [i.name for i in inputs] != [signature.input_name]:
        raise ModelRejected(f"the model's inputs are {[i.name for i in inputs]}; expected one named "
                            f"{signature.input_name!r}")
    if [o.name for o in model.graph.output] != [signature.output_name]:
        raise ModelRejected(f"the model's outputs are {[o.name for o in model.graph.output]}; expected one named "
                            f"{signature.output_name!r}")
    dtype = FLOAT_TYPES.get(inputs[0].type.tensor_type.elem_type)
    if dtype is None:
        raise ModelRejected(f"input {signature.input_name!r} must be float32, float16 or float64")
    in_dims, out_dims = _dims(inputs[0]), _dims(model.graph.output[0])
    expected_in = ["batch", *sample_shape]
    if len(in_dims) != len(expected_in) or list(in_dims[1:]) != list(sample_shape):
        raise ModelRejected(f"input {signature.input_name!r} has shape {in_dims}; expected {expected_in}")
    if len(out_dims) != 2 or out_dims[1] != signature.classes:
        raise ModelRejected(f"output {signature.output_name!r} has shape {out_dims}; expected "
                            f"['batch', {signature.classes}]")
    batch = in_dims[0]
    if isinstance(batch, int) and batch not in (0, 1):
        raise ModelRejected(f"the batch dimension is fixed to {batch}; make it dynamic (or 1)")
    return CheckedModel(data=data, input_dtype=dtype, batch_fixed_to_one=batch == 1)
