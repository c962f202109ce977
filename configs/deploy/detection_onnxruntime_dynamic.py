_base_ = ['./_base_/onnxruntime_detection.py']
onnx_config = dict(dynamic_axes=dict(
    input={0: 'batch', 2: 'height', 3: 'width'},
    dets={0: 'batch', 1: 'num_dets'},
    labels={0: 'batch', 1: 'num_dets'}))
