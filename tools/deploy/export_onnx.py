"""Export an InternImage model to ONNX (opset >= 19, DCNv3 as the standard DeformConv), run the file in
ONNX Runtime (and OpenVINO) on a sample input and print the largest difference against PyTorch::

    python tools/deploy/export_onnx.py CONFIG [CHECKPOINT] --out FILE.onnx [--shape H W] [--batch N]
                                       [--dynamic] [--opset 19] [--openvino] [--external-data]
                                       [--image IMAGE] [--cfg-options K=V ...]

The file's input ``input`` is (N, 3, H, W) float32 RGB pixels (0-255); the normalisation of the
config's data preprocessor is inside the graph. Outputs: classifiers ``logits``; segmentors
``seg_logits`` (at input resolution); detectors ``dets`` (N, K, 5), ``labels`` and, for instance
segmentation, ``masks``. Weights over 2 GB go to ``FILE.onnx.data`` beside the file (ONNX external
data; ``--external-data`` always). ``--openvino`` also writes the OpenVINO IR ``FILE.xml`` / ``FILE.bin``,
which plain OpenVINO loads. Without CHECKPOINT the model keeps its initial weights. A ``--dynamic`` file
(any batch, height and width) is also checked on a second input of another shape.

The library behind it: ``internimage.deploy`` (export, files, verify, runtime).
"""
import argparse
import os.path as osp
import sys

from internimage.deploy.export import MIN_OPSET, export_model
from internimage.deploy.files import EXTERNAL_DATA_THRESHOLD, save_onnx, save_openvino
from internimage.deploy.model import load_model
from internimage.deploy.verify import describe, differences, reference, run_file, sample_pixels, second_shape

DEFAULT_SHAPES = {'classification': (224, 224), 'segmentation': (512, 512), 'detection': (800, 1344)}


def parse_args():
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), default=None,
                        help='sample input size (default 224 224, detectors 800 1344, segmentors 512 512)')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--dynamic', action='store_true', help='dynamic batch, height and width')
    parser.add_argument('--opset', type=int, default=MIN_OPSET)
    parser.add_argument('--exporter', choices=['dynamo', 'torchscript'], default=None,
                        help='torch exporter for classifiers and segmentors (default: dynamo; TorchScript for '
                             'Mask2Former, whose pixel decoder dynamo cannot trace; detectors: mmdeploy, TorchScript)')
    parser.add_argument('--openvino', action='store_true',
                        help='also write the OpenVINO IR (FILE.xml / FILE.bin) and check it against PyTorch')
    parser.add_argument('--external-data', action='store_true',
                        help='weights in FILE.onnx.data whatever their size (default: only over 2 GB)')
    parser.add_argument('--image', help='an image for the sample input (default: a seeded random image)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    args = parser.parse_args()
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint'), (args.image, 'image')):
        if path is not None and not osp.isfile(path) and '://' not in path:
            sys.exit(f'{what} not found: {path}')
    if args.opset < MIN_OPSET:
        sys.exit(f'--opset {args.opset}: DCNv3 exports as ONNX DeformConv, which needs opset >= {MIN_OPSET}')
    if not args.out.endswith('.onnx'):
        sys.exit(f'--out {args.out}: give an .onnx file name')
    return args


def main():
    args = parse_args()
    cfg, model, task = load_model(args.config, args.checkpoint, args.cfg_options)
    height, width = args.shape or DEFAULT_SHAPES[task]
    pixels = sample_pixels(args.batch, height, width, args.image)
    try:
        proto = export_model(cfg, model, task, pixels, args.dynamic, args.opset, args.exporter)
    except ValueError as error:  # a model / exporter combination that cannot work, explained
        sys.exit(f'{args.config}: {error}')
    threshold = 0 if args.external_data else EXTERNAL_DATA_THRESHOLD
    written = save_onnx(proto, args.out, external_data_threshold=threshold)
    del proto
    print(f'wrote {" and ".join(written)} ({task}, opset {args.opset}, {"dynamic" if args.dynamic else "static"} shape)')
    files = [(args.out, 'onnxruntime', 'ONNX Runtime')]
    if args.openvino:
        xml = save_openvino(args.out)
        print(f'wrote {" and ".join(xml)} (OpenVINO IR)')
        files.append((xml[0], 'openvino', 'OpenVINO'))
    inputs = [(pixels, f'the sample {tuple(pixels.shape)}')]
    if args.dynamic:  # the same file at another input shape
        other = sample_pixels(*second_shape(task, batch=args.batch, height=height, width=width), args.image, seed=1)
        inputs.append((other, f'another input {tuple(other.shape)}'))
    for sample, where in inputs:
        expected = reference(model, task, sample)
        for path, runtime, runtime_name in files:
            print(describe(task, differences(task, run_file(path, sample, runtime), expected), where, runtime_name))


if __name__ == '__main__':
    main()
