"""Writing an exported model: the ``.onnx`` file, checked, with its weights in a data file beside it when
they are too large for one protobuf (ONNX external data), and the OpenVINO IR (``.xml`` / ``.bin``).
Needs onnx and openvino only (no torch)."""
import os
import os.path as osp

# protobuf serialises at most 2 GiB; above this many bytes of tensors the weights go to a data file
# (a margin is left for the graph itself).
EXTERNAL_DATA_THRESHOLD = 2 ** 31 - 2 ** 27


def tensor_bytes(proto):
    """Bytes of the graph's tensors: initializers and Constant nodes' values."""
    tensors = list(proto.graph.initializer)
    tensors += [attr.t for node in proto.graph.node if node.op_type == 'Constant' for attr in node.attribute
                if attr.name == 'value']
    return sum(len(t.raw_data) or t.ByteSize() for t in tensors)


def external_data_path(path):
    """The weights file of an ONNX file saved with external data: ``FILE.onnx.data``."""
    return path + '.data'


def save_onnx(proto, path, external_data_threshold=EXTERNAL_DATA_THRESHOLD, min_tensor_bytes=1024):
    """Write ``proto`` to ``path`` and check the file (``onnx.checker``, full check). When its tensors hold
    more than ``external_data_threshold`` bytes, those of ``min_tensor_bytes`` or more go to one data
    file, ``path + '.data'``, which ONNX Runtime and OpenVINO read beside the ``.onnx``. Returns the
    paths written. ``proto`` is left as it was (its tensors in memory)."""
    import onnx
    from onnx.external_data_helper import load_external_data_for_model
    data = external_data_path(path)
    if osp.exists(data):
        os.remove(data)  # onnx appends to an existing data file
    if tensor_bytes(proto) <= external_data_threshold:
        onnx.save_model(proto, path)
        written = [path]
    else:
        onnx.save_model(proto, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=osp.basename(data), size_threshold=min_tensor_bytes)
        load_external_data_for_model(proto, osp.dirname(osp.abspath(path)))  # the tensors back in memory
        written = [path, data]
    onnx.checker.check_model(path, full_check=True)  # by path: reads the external data too
    return written


def save_openvino(onnx_path, xml_path=None):
    """Convert the ONNX file (with external data, if any) to the OpenVINO IR: ``xml_path`` (default: the
    ``.onnx`` path with ``.xml``) and its ``.bin``, float32 weights. ONNX ``DeformConv`` becomes OpenVINO's
    ``DeformableConvolution`` (:mod:`.openvino_extension`), so plain OpenVINO loads the IR; the file's
    metadata is kept in the IR's ``rt_info``. Returns the paths written."""
    import openvino as ov

    from .openvino_extension import deform_conv_extension
    xml_path = xml_path or osp.splitext(onnx_path)[0] + '.xml'
    model = ov.convert_model(onnx_path, extension=[deform_conv_extension()])
    ov.save_model(model, xml_path, compress_to_fp16=False)
    return [xml_path, osp.splitext(xml_path)[0] + '.bin']
