"""OpenVINO against ONNX Runtime and PyTorch eager (the compiled DCNv3 op) on the CPU, in one process,
interleaved: InternImage-T at batch 1 and 8 (224 x 224) and UPerNet-T (512 x 512), f32 and bf16::

    python tools/deploy/benchmark_runtimes.py [--threads 2] [--repeats 7] [--cases cls-b1 cls-b8 upernet]
                                              [--runners torch-f32 ort-f32 ov-f32 torch-bf16 ov-bf16]

Each case is exported once (static shape, initial weights), then the runners alternate, one call each
per round, after one warm-up call each. Printed per runner: min and median seconds per call, the median
against PyTorch f32's, and the output's largest difference from PyTorch f32's (relative to its largest
value). bf16: OpenVINO's inference precision hint; PyTorch's CPU autocast (the DCNv3 op in the
precision autocast hands it). ONNX Runtime's CPU provider runs f32 only. On a shared machine only the
ratios mean much.
"""
import argparse
import contextlib
import os.path as osp
import statistics
import tempfile
import time

import numpy as np
import torch

from internimage.deploy.export import ROOT, export_model
from internimage.deploy.files import save_onnx
from internimage.deploy.model import load_model
from internimage.deploy.runtime import open_session
from internimage.deploy.verify import relative_difference, sample_pixels
from internimage.deploy.wrappers import dense_wrapper

CASES = {
    'cls-b1': ('configs/imagenet/internimage_t_1k_224.py', 1, (224, 224)),
    'cls-b8': ('configs/imagenet/internimage_t_1k_224.py', 8, (224, 224)),
    'upernet': ('configs/ade20k/upernet_internimage_t_512_160k_ade20k.py', 1, (512, 512)),
}
RUNNERS = ('torch-f32', 'ort-f32', 'ov-f32', 'torch-bf16', 'ov-bf16')


def make_runners(names, wrapper, onnx_path, pixels, threads):
    """{name: a call returning the output as a float32 array}."""
    runners = {}
    for name in names:
        kind, precision = name.split('-')
        if kind == 'torch':
            dtype = torch.bfloat16 if precision == 'bf16' else None

            def run(dtype=dtype):
                with torch.no_grad(), (torch.autocast('cpu', dtype=dtype) if dtype else contextlib.nullcontext()):
                    return wrapper(pixels).float().numpy()
        else:
            session = open_session(onnx_path, {'ort': 'onnxruntime', 'ov': 'openvino'}[kind], threads, precision)
            feed = pixels.numpy()

            def run(session=session, feed=feed):
                return next(iter(session.run(feed).values()))
        runners[name] = run
    return runners


def benchmark(case, names, threads, repeats):
    config, batch, size = CASES[case]
    torch.manual_seed(0)
    cfg, model, task = load_model(osp.join(ROOT, config))
    pixels = sample_pixels(batch, *size)
    wrapper, _ = dense_wrapper(model, task)
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'model.onnx')
        save_onnx(export_model(cfg, model, task, pixels), path)
        runners = make_runners(names, wrapper, path, pixels, threads)
        reference = runners['torch-f32']() if 'torch-f32' in runners else None
        errors, times = {}, {name: [] for name in runners}
        for name, run in runners.items():  # warm-up, and each runner's difference from PyTorch f32
            try:
                out = run()
            except RuntimeError as error:  # e.g. an op without a bf16 kernel
                print(f'{case} {name}: cannot run ({str(error).splitlines()[0]})')
                times.pop(name)
                continue
            errors[name] = relative_difference(out, reference) if reference is not None else float('nan')
        for _ in range(repeats):
            for name in times:
                start = time.perf_counter()
                runners[name]()
                times[name].append(time.perf_counter() - start)
    return {name: (min(t), statistics.median(t), errors[name]) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--cases', nargs='+', choices=sorted(CASES), default=list(CASES))
    parser.add_argument('--runners', nargs='+', choices=RUNNERS, default=list(RUNNERS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f'{"case":8s} {"runner":11s} {"min s":>8s} {"median s":>9s} {"/ torch-f32":>12s} {"rel. diff":>10s}')
    for case in args.cases:
        results = benchmark(case, args.runners, args.threads, args.repeats)
        base = results.get('torch-f32', (np.nan, np.nan))[1]
        for name, (fastest, median, error) in results.items():
            print(f'{case:8s} {name:11s} {fastest:8.3f} {median:9.3f} {median / base:11.2f}x {error:10.2g}', flush=True)


if __name__ == '__main__':
    main()
