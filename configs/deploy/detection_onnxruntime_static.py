_base_ = ['./_base_/onnxruntime_detection.py']
