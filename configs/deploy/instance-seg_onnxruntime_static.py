# Masks are exported as the RoI mask head's (K, 28, 28) probabilities; pasting them into the
# image is left to the caller (tools/deploy/onnx_infer.py).
_base_ = ['./_base_/onnxruntime_detection.py']
onnx_config = dict(output_names=['dets', 'labels', 'masks'])
codebase_config = dict(post_processing=dict(export_postprocess_mask=False))
