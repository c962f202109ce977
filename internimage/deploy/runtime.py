"""An exported InternImage file run in ONNX Runtime or OpenVINO, numpy in and out: no torch and no
OpenMMLab package is imported (``tools/deploy/onnx_infer.py`` runs on this alone).

- :func:`open_session`: a ``.onnx`` file (or, for ONNX Runtime, a ModelProto) in ONNX Runtime, or a
  ``.onnx`` or OpenVINO IR ``.xml`` file in OpenVINO (an ``.onnx`` with the DeformConv conversion
  extension, :mod:`.openvino_extension`), as a :class:`Session` mapping input pixels to named outputs;
- :class:`DeployedModel`: a session and the conventions stored in the file's metadata (task, classes,
  mean colour, size divisor), fed an RGB image of any size.
"""
import json
import os

import numpy as np

RUNTIMES = ('onnxruntime', 'openvino')
PRECISIONS = ('f32', 'bf16')  # OpenVINO's inference precision hint; ONNX Runtime's CPU runs f32
METADATA_KEYS = ('task', 'classes', 'mean', 'std', 'size_divisor', 'dynamic', 'input')


class Session:
    """One runtime's compiled model: ``metadata`` (the ``internimage.*`` entries, without the prefix),
    ``input_name``, ``input_shape`` (ints, None where dynamic) and ``run(pixels)`` -> {output name: array}."""

    metadata: dict
    input_name: str
    input_shape: tuple

    def run(self, pixels):
        raise NotImplementedError


class OnnxRuntimeSession(Session):
    def __init__(self, model, threads=None):
        import onnxruntime as ort
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        source = os.fspath(model) if isinstance(model, (str, os.PathLike)) else model.SerializeToString()
        self.session = ort.InferenceSession(source, options, providers=['CPUExecutionProvider'])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.metadata = {key[len('internimage.'):]: value for key, value in meta.items()
                         if key.startswith('internimage.')}
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self.input_shape = tuple(d if isinstance(d, int) else None for d in first.shape)
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, pixels):
        return dict(zip(self.output_names, self.session.run(None, {self.input_name: pixels})))


class OpenVinoSession(Session):
    def __init__(self, path, threads=None, precision='f32'):
        import openvino as ov

        from .openvino_extension import deform_conv_extension
        if precision not in PRECISIONS:
            raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
        path = os.fspath(path)
        core = ov.Core()
        if path.endswith('.onnx'):
            core.add_extension(deform_conv_extension())
        model = core.read_model(path)
        # The ONNX frontend keeps an ONNX file's metadata_props under rt_info 'framework'; an IR
        # converted from the file carries them along.
        self.metadata = {key: model.get_rt_info(['framework', f'internimage.{key}']).astype(str)
                         for key in METADATA_KEYS if model.has_rt_info(['framework', f'internimage.{key}'])}
        config = {'INFERENCE_PRECISION_HINT': precision}
        if threads:
            config['INFERENCE_NUM_THREADS'] = threads
        self.compiled = core.compile_model(model, 'CPU', config)
        first = model.inputs[0]
        self.input_name = first.get_any_name()
        self.input_shape = tuple(d.get_length() if d.is_static else None for d in first.get_partial_shape())
        self.outputs = [(out.get_any_name(), out) for out in self.compiled.outputs]

    def run(self, pixels):
        results = self.compiled({self.input_name: pixels})
        return {name: np.array(results[port]) for name, port in self.outputs}  # a copy: the request reuses its buffers


def open_session(model, runtime='onnxruntime', threads=None, precision='f32'):
    """A :class:`Session` for ``model`` (a path; ONNX Runtime also takes a ModelProto)."""
    if runtime == 'onnxruntime':
        if precision != 'f32':
            raise ValueError(f'ONNX Runtime (CPU) runs these files in f32; precision {precision!r} needs openvino')
        return OnnxRuntimeSession(model, threads)
    if runtime == 'openvino':
        return OpenVinoSession(model, threads, precision)
    raise ValueError(f'runtime must be one of {RUNTIMES}, got {runtime!r}')


class DeployedModel:
    """An exported InternImage model and the conventions stored in its metadata."""

    def __init__(self, path, runtime='onnxruntime', threads=None, precision='f32'):
        self.session = open_session(path, runtime, threads, precision)
        meta = self.session.metadata
        if 'task' not in meta:
            raise ValueError(f'{path}: no internimage.* metadata; export it with tools/deploy/export_onnx.py')
        self.task = meta['task']
        self.classes = json.loads(meta['classes'])
        self.mean = np.asarray(json.loads(meta['mean']), np.float32)
        self.size_divisor = int(meta['size_divisor'])
        _, _, height, width = self.session.input_shape
        self.static_size = (height, width) if height is not None and width is not None else None

    def prepare(self, rgb):
        """(1, 3, H, W) float32 input, the scale from the image to it and the image's (h, w) in it.
        Resized to fit a static input (keeping the aspect ratio), padded with the mean colour, which
        the graph's normalisation maps to zero, as the PyTorch pipelines pad after normalising."""
        from PIL import Image
        h, w = rgb.shape[:2]
        if self.static_size is not None:
            target_h, target_w = self.static_size
            scale = min(target_h / h, target_w / w)
        else:
            scale = 1.0
            divisor = self.size_divisor
            target_h, target_w = -(-h // divisor) * divisor, -(-w // divisor) * divisor
        new_w, new_h = max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)
        resized = np.asarray(Image.fromarray(rgb).resize((new_w, new_h), Image.BILINEAR), np.float32)
        canvas = np.empty((target_h, target_w, 3), np.float32)
        canvas[:] = self.mean
        canvas[:new_h, :new_w] = resized
        return canvas.transpose(2, 0, 1)[None], scale, (new_h, new_w)

    def __call__(self, rgb):
        """Outputs for one RGB image (H, W, 3) uint8, the scale and the image's size in the input."""
        pixels, scale, valid = self.prepare(rgb)
        return self.session.run(pixels), scale, valid
