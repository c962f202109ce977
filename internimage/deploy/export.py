"""Export an InternImage model to an ONNX ModelProto (opset >= 19, DCNv3 as the standard ``DeformConv``);
:mod:`.files` writes it (ONNX external data over 2 GB, the OpenVINO IR on request).

The file's input ``input`` is (N, 3, H, W) float32 RGB pixels (0-255); the normalisation of the config's
data preprocessor is inside the graph (:mod:`.normalisation`). Outputs: :mod:`.wrappers`. The task,
class names and input conventions are stored in the file's metadata (``internimage.*``) for
:mod:`.runtime`.
"""
import contextlib
import json
import os.path as osp
import tempfile

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))  # the checkout (an editable install)
DEPLOY_CONFIGS = osp.join(ROOT, 'configs', 'deploy')
MIN_OPSET = 19


# --- classifiers and segmentors: torch.onnx.export ---------------------------------------------

def export_dense(wrapper, output_name, pixels, dynamic, opset, exporter):
    """Classifier or segmentor: torch.onnx.export with the DCNv3 translation. A dynamic export
    swaps adaptive average pools (UPerNet's pyramid pooling) for a form exported for any size."""
    from .dynamic_pooling import adaptive_pools_as_matrices
    with adaptive_pools_as_matrices(wrapper) if dynamic else contextlib.nullcontext():
        return _torch_export(wrapper, output_name, pixels, dynamic, opset, exporter)


def _torch_export(wrapper, output_name, pixels, dynamic, opset, exporter):
    import onnx
    from ops_dcnv3.onnx import custom_translation_table
    if exporter == 'dynamo':
        dynamic_shapes = None
        if dynamic:
            dim = torch.export.Dim.DYNAMIC
            dynamic_shapes = {'pixels': {0: dim, 2: dim, 3: dim}}
        program = torch.onnx.export(wrapper, (pixels,), dynamo=True, opset_version=opset,
                                    input_names=['input'], output_names=[output_name],
                                    dynamic_shapes=dynamic_shapes, custom_translation_table=custom_translation_table())
        return program.model_proto
    dynamic_axes = None
    if dynamic:
        dynamic_axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}, output_name: {0: 'batch'}}
        if output_name == 'seg_logits':
            dynamic_axes[output_name].update({2: 'height', 3: 'width'})
    from .torchscript_fixes import torchscript_exporter_fixes
    # Into a file: over 2 GB the exporter writes external data, which a buffer cannot hold.
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad(), torchscript_exporter_fixes():
        path = osp.join(tmp, 'model.onnx')
        torch.onnx.export(wrapper, (pixels,), path, dynamo=False, opset_version=opset, input_names=['input'],
                          output_names=[output_name], dynamic_axes=dynamic_axes)
        return onnx.load(path)


# --- detectors: mmdeploy ---------------------------------------------------------------------

def deploy_config(model, dynamic, opset):
    """mmdeploy's onnxruntime deploy config for this detector (configs/deploy/)."""
    from mmengine.config import Config
    with_mask = getattr(model, 'with_mask', False)
    name = f"{'instance-seg' if with_mask else 'detection'}_onnxruntime_{'dynamic' if dynamic else 'static'}.py"
    cfg = Config.fromfile(osp.join(DEPLOY_CONFIGS, name))
    cfg.onnx_config.opset_version = opset
    return cfg


def export_detector(model, pixels, opset, dynamic):
    """Detector through mmdeploy's rewriters (post-processing and NMS in the graph)."""
    import onnx
    from mmdeploy.apis.onnx import export
    from mmdeploy.codebase import import_codebase
    from mmdeploy.utils import get_codebase, get_dynamic_axes, get_onnx_config

    from .mmdeploy_compat import mmdeploy_on_torch214
    from .torchscript_fixes import torchscript_exporter_fixes
    from .wrappers import DetectorPredict, det_data_samples

    deploy_cfg = deploy_config(model, dynamic, opset)
    import_codebase(get_codebase(deploy_cfg))  # registers mmdeploy's mmdet rewriters
    from . import mmdeploy_rewriters  # noqa: F401 (registers the rewriters that keep to mmdet: RPN, Cascade)
    onnx_cfg = get_onnx_config(deploy_cfg)
    names = onnx_cfg['input_names'] + onnx_cfg['output_names']
    samples = det_data_samples(pixels.shape[0], *pixels.shape[2:])
    with tempfile.TemporaryDirectory() as tmp, mmdeploy_on_torch214(), torchscript_exporter_fixes():
        prefix = osp.join(tmp, 'end2end')
        export(DetectorPredict(model), pixels, prefix, backend=deploy_cfg.backend_config.type,
               input_metas=dict(data_samples=samples, mode='predict'),
               context_info=dict(deploy_cfg=deploy_cfg, cfg=deploy_cfg), input_names=onnx_cfg['input_names'],
               output_names=onnx_cfg['output_names'], opset_version=opset,
               dynamic_axes=get_dynamic_axes(deploy_cfg, names) if dynamic else None,
               keep_initializers_as_inputs=False, optimize=False)
        return onnx.load(prefix + '.onnx')


# --- the whole export ------------------------------------------------------------------------

def reads_shapes_as_tensors(model):
    """Whether ``model`` has mmdet's deformable-attention pixel decoder (Mask2Former): it reads feature
    sizes with ``torch._shape_as_tensor`` and splits by them, written for the TorchScript exporter;
    torch.export (the dynamo exporter) cannot trace it."""
    from mmdet.models.layers import MSDeformAttnPixelDecoder
    return any(isinstance(module, MSDeformAttnPixelDecoder) for module in model.modules())


def export_model(cfg, model, task, pixels, dynamic=False, opset=MIN_OPSET, exporter=None):
    """Export ``model`` on the sample ``pixels``; returns the ModelProto (metadata added, tensors in
    memory). ``exporter`` (classifiers and segmentors): 'dynamo' or 'torchscript'; None picks dynamo,
    or TorchScript for Mask2Former. :func:`save_onnx` writes and checks it."""
    from .wrappers import dense_wrapper
    if opset < MIN_OPSET:
        raise ValueError(f'--opset {opset}: DCNv3 exports as ONNX DeformConv, which needs opset >= {MIN_OPSET}')
    needs_torchscript = task == 'segmentation' and reads_shapes_as_tensors(model)
    if exporter is None:
        exporter = 'torchscript' if needs_torchscript else 'dynamo'
    elif exporter == 'dynamo' and needs_torchscript:
        raise ValueError(f'{type(model.decode_head).__name__}: its pixel decoder (mmdet MSDeformAttnPixelDecoder) '
                         'reads feature sizes as tensors, which the dynamo exporter cannot trace; '
                         'use --exporter torchscript')
    if task == 'detection':
        proto = export_detector(model, pixels, opset, dynamic)
    else:
        proto = export_dense(*dense_wrapper(model, task), pixels, dynamic, opset, exporter)
    add_metadata(proto, task, model, cfg, dynamic)
    return proto


def add_metadata(model_proto, task, model, cfg, dynamic):
    from .model import class_names
    from .normalisation import pixel_normalisation
    mean, std, _ = pixel_normalisation(model)
    classes = class_names(model, cfg)
    entries = {
        'task': task,
        'classes': json.dumps(list(classes) if classes else []),
        'mean': json.dumps(mean.flatten().tolist()),
        'std': json.dumps(std.flatten().tolist()),
        'size_divisor': str(getattr(model.data_preprocessor, 'pad_size_divisor', 1) or 1),
        'dynamic': str(bool(dynamic)),
        'input': 'float32 (N, 3, H, W) RGB pixels 0-255; pad with the mean colour',
    }
    for key, value in entries.items():
        prop = model_proto.metadata_props.add()
        prop.key, prop.value = f'internimage.{key}', value
