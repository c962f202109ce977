# mmdeploy's ONNX Runtime deploy settings for mmdet detectors (mmdeploy 1.3.1's config values),
# at opset 19: DCNv3 exports as the standard DeformConv, which appeared in opset 19.
onnx_config = dict(
    type='onnx', export_params=True, keep_initializers_as_inputs=False, opset_version=19,
    save_file='end2end.onnx', input_names=['input'], output_names=['dets', 'labels'], input_shape=None,
    optimize=False)  # mmdeploy's graph optimiser is a compiled extension built for an older torch
backend_config = dict(type='onnxruntime')
codebase_config = dict(
    type='mmdet', task='ObjectDetection', model_type='end2end',
    post_processing=dict(score_threshold=0.05, confidence_threshold=0.005, iou_threshold=0.5,
                         max_output_boxes_per_class=200, pre_top_k=5000, keep_top_k=100,
                         background_label_id=-1))
