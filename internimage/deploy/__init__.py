"""Deployment of InternImage models: ONNX export (opset 19, DCNv3 as the standard ``DeformConv``) and the
runtimes that run the files. ``tools/deploy/`` holds the command lines over it.

One idea per module; the submodules are imported on use, and ``runtime``, ``openvino_extension`` and
``visualise`` need neither torch nor any OpenMMLab package:

- ``model``: a config (and checkpoint) built as mmengine's Runner builds it (:func:`model.load_model`);
- ``normalisation``: the model's data preprocessor as an in-graph map of RGB pixels;
- ``wrappers``: what is exported per task (logits, seg logits, the detector's predict path);
- ``export``: :func:`export.export_model`, a model to an ONNX ModelProto (torch's exporters, mmdeploy);
- ``files``: writing it: checked, ONNX external data over 2 GB, the OpenVINO IR (no torch);
- ``verify``: the file against the PyTorch model on the same pixels;
- ``runtime``: a file in ONNX Runtime or OpenVINO (:class:`runtime.DeployedModel`);
- ``openvino_extension``: ONNX ``DeformConv`` onto OpenVINO's ``DeformableConvolution``;
- ``visualise``: predictions drawn onto the image;
- rewrites applied during the export only: ``dynamic_pooling`` (adaptive pooling for any input size),
  ``torchscript_fixes`` (torch's ``repeat_interleave`` symbolic), ``mmdeploy_compat`` (mmdeploy 1.3.1
  on torch 2.14), ``mmdeploy_rewriters`` (where mmdeploy's detector rewrites differ from mmdet).
"""
