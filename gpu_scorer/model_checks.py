"""Checks of a submitted ONNX model before anything runs it: size, that it parses, no external data and no
sparse tensors anywhere in it, only the standard operator domains, and the task's signature (input/output
names, float dtype, shapes, a batch dimension that is dynamic or 1). Each refusal is a reason the participant
can act on; whatever of the model it quotes is cut short (`gpu_scorer.reasons`).

External data is the hole this closes first: a tensor whose bytes "live in" a file named by a relative path
is read by ONNX Runtime from the scoring machine, and a model can hand those bytes back (as the shape of its
output, say). Such a tensor can hide in any graph (the main one, an If/Loop/Scan body, a model-local
function, a training graph) and any tensor-valued attribute, so every one is walked, not only the top level."""

from __future__ import annotations

from dataclasses import dataclass, field

import onnx
from onnx import TensorProto

from gpu_scorer import reasons
from proto.competition import ModelSignature

# ONNX's own operator sets; anything else needs a custom kernel we would have to trust.
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
FLOAT_TYPES: dict[int, str] = {
    TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16", TensorProto.DOUBLE: "float64",
}
# The file identifier of ONNX Runtime's own (flatbuffer) model format, at bytes 4-8: ONNX Runtime loads such
# bytes as that format, not as the ONNX we check.
ORT_FORMAT_IDENTIFIER = b"ORTM"
DOMAINS_QUOTED = 3
DECLARED_DIMS = 8  # a declared input/output shape is quoted up to this rank (it is the model's text, not its result)


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


@dataclass
class ModelContents:
    """Everything in a model that holds data or operators, at any depth: dense tensors (initializers and
    tensor attributes), sparse tensors, and nodes (of every graph, subgraph and function)."""

    tensors: list[onnx.TensorProto] = field(default_factory=list)
    sparse: list[onnx.SparseTensorProto] = field(default_factory=list)
    nodes: list[onnx.NodeProto] = field(default_factory=list)


def model_contents(model: onnx.ModelProto) -> ModelContents:
    """Walk every graph (the main one, training graphs, If/Loop/Scan bodies: `g` and `graphs` attributes, to
    any depth), every model-local function (its nodes and its attributes' defaults) and every tensor-valued
    attribute (`t`, `tensors`, `sparse_tensor`, `sparse_tensors`) — iteratively, so deep nesting is no problem.
    Every field is looked at whatever the attribute's declared type says."""
    contents = ModelContents()
    graphs = [model.graph, *(graph for info in model.training_info for graph in (info.initialization, info.algorithm))]
    attributes: list[onnx.AttributeProto] = []
    for function in model.functions:
        contents.nodes.extend(function.node)
        attributes.extend(function.attribute_proto)
        attributes.extend(attribute for node in function.node for attribute in node.attribute)
    while graphs or attributes:
        if graphs:
            graph = graphs.pop()
            contents.tensors.extend(graph.initializer)
            contents.sparse.extend(graph.sparse_initializer)
            contents.nodes.extend(graph.node)
            attributes.extend(attribute for node in graph.node for attribute in node.attribute)
            continue
        attribute = attributes.pop()
        if attribute.HasField("t"):
            contents.tensors.append(attribute.t)
        contents.tensors.extend(attribute.tensors)
        if attribute.HasField("sparse_tensor"):
            contents.sparse.append(attribute.sparse_tensor)
        contents.sparse.extend(attribute.sparse_tensors)
        if attribute.HasField("g"):
            graphs.append(attribute.g)
        graphs.extend(attribute.graphs)
    return contents


def _external(tensor: onnx.TensorProto) -> bool:
    return tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data) > 0


def _called(tensor_name: str) -> str:
    return f" (tensor {reasons.name(tensor_name)})" if tensor_name else ""


def refuse_outside_data(contents: ModelContents) -> None:
    """No tensor anywhere may take its bytes from a file, and no tensor may be sparse (a sparse initializer or
    a Constant's `sparse_value`: the engines make dense tensors of them themselves, one more loader to trust)."""
    parts = [part for sparse in contents.sparse for part in (sparse.values, sparse.indices)]
    for tensor in [*contents.tensors, *parts]:
        if _external(tensor):
            raise ModelRejected(f"the model refers to external data files{_called(tensor.name)}; embed every "
                                "weight in the .onnx file")
    if contents.sparse:
        called = contents.sparse[0].values.name
        raise ModelRejected(f"the model holds a sparse tensor{' ' + reasons.name(called) if called else ''} (a "
                            "sparse initializer or a Constant's sparse_value), which is not accepted; store every "
                            "weight as a dense tensor")


def check_model(data: bytes, signature: ModelSignature, sample_shape: tuple[int, ...], max_bytes: int
                ) -> CheckedModel:
    if len(data) > max_bytes:
        raise ModelRejected(f"the model is {len(data)} bytes, over the task's limit of {max_bytes}")
    if data[4:8] == ORT_FORMAT_IDENTIFIER:
        raise ModelRejected("the file is in ONNX Runtime's own .ort format; send an .onnx model")
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ModelRejected(f"not an ONNX model that can be read ({type(exc).__name__})") from None
    contents = model_contents(model)
    refuse_outside_data(contents)  # before anything (onnx's checker included) might look for those files
    domains = ({op.domain for op in model.opset_import} | {node.domain for node in contents.nodes}
               | {function.domain for function in model.functions}
               | {op.domain for function in model.functions for op in function.opset_import})
    custom = sorted(domains - STANDARD_DOMAINS)
    if custom:
        listed = ", ".join(reasons.printable(domain[:reasons.NAME_CHARS]) for domain in custom[:DOMAINS_QUOTED])
        more = f" and {len(custom) - DOMAINS_QUOTED} more" if len(custom) > DOMAINS_QUOTED else ""
        raise ModelRejected(f"custom operator domains are not allowed: {listed}{more}")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # its ValidationError, and whatever else the checker says of the participant's bytes
        raise ModelRejected(f"the model is not valid ONNX: {reasons.text(str(exc))}") from None
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if [i.name for i in inputs] != [signature.input_name]:
        raise ModelRejected(f"the model's inputs are {reasons.names(i.name for i in inputs)}; expected one named "
                            f"{signature.input_name!r}")
    if [o.name for o in model.graph.output] != [signature.output_name]:
        raise ModelRejected(f"the model's outputs are {reasons.names(o.name for o in model.graph.output)}; "
                            f"expected one named {signature.output_name!r}")
    dtype = FLOAT_TYPES.get(inputs[0].type.tensor_type.elem_type)
    if dtype is None:
        raise ModelRejected(f"input {signature.input_name!r} must be float32, float16 or float64")
    in_dims, out_dims = _dims(inputs[0]), _dims(model.graph.output[0])
    expected_in = ["batch", *sample_shape]
    if len(in_dims) != len(expected_in) or list(in_dims[1:]) != list(sample_shape):
        declared = reasons.has_shape(in_dims, "[]", DECLARED_DIMS)
        raise ModelRejected(f"input {signature.input_name!r} has {declared}; expected {expected_in}")
    if len(out_dims) != 2 or out_dims[1] != signature.classes:
        declared = reasons.has_shape(out_dims, "[]", DECLARED_DIMS)
        raise ModelRejected(f"output {signature.output_name!r} has {declared}; expected "
                            f"['batch', {signature.classes}]")
    batch = in_dims[0]
    if isinstance(batch, int) and batch not in (0, 1):
        raise ModelRejected(f"the batch dimension is fixed to {batch}; make it dynamic (or 1)")
    return CheckedModel(data=data, input_dtype=dtype, batch_fixed_to_one=batch == 1)
