"""Run a file written by tools/deploy/export_onnx.py on images, in ONNX Runtime (default) or OpenVINO, with
no torch and no OpenMMLab package, and draw the predictions to PNG, like tools/image_demo.py::

    python tools/deploy/onnx_infer.py FILE IMAGE... [--out DIR] [--score-thr 0.3]
                                      [--runtime onnxruntime|openvino] [--precision f32|bf16]

FILE: an ``.onnx`` file, or for OpenVINO also its IR ``.xml``. Detection: boxes, labels and scores (and
masks for instance segmentation); segmentation: a coloured label overlay; classification: the top-5
classes. Images are resized to fit a static input (keeping their aspect ratio) and padded with the mean
colour, which the graph's normalisation maps to zero, as the PyTorch pipelines pad after normalising.
The library behind it: ``internimage.deploy.runtime`` and ``internimage.deploy.visualise``.
"""
import argparse
import os
import os.path as osp
import sys

from internimage.deploy.runtime import PRECISIONS, RUNTIMES, DeployedModel
from internimage.deploy.visualise import predict_and_draw


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('file', help='an .onnx file from tools/deploy/export_onnx.py (OpenVINO: or its .xml)')
    parser.add_argument('images', nargs='+')
    parser.add_argument('--out', default='onnx_vis', help='folder for the PNGs')
    parser.add_argument('--score-thr', type=float, default=0.3, help='detections below are not drawn')
    parser.add_argument('--runtime', choices=RUNTIMES, default='onnxruntime')
    parser.add_argument('--precision', choices=PRECISIONS, default='f32', help="OpenVINO's inference precision")
    parser.add_argument('--threads', type=int, default=None)
    args = parser.parse_args()
    for path in [args.file, *args.images]:
        if not osp.isfile(path):
            sys.exit(f'not found: {path}')
    if args.file.endswith('.xml') and args.runtime != 'openvino':
        sys.exit(f'{args.file}: an OpenVINO IR runs with --runtime openvino')
    try:
        model = DeployedModel(args.file, args.runtime, args.threads, args.precision)
    except ValueError as error:
        sys.exit(str(error))
    os.makedirs(args.out, exist_ok=True)
    for image in args.images:
        out_file = osp.join(args.out, osp.splitext(osp.basename(image))[0] + '.png')
        print(f'{image}: {predict_and_draw(model, image, out_file, args.score_thr)} -> {out_file}')


if __name__ == '__main__':
    main()
