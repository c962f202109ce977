"""ONNX Runtime against PyTorch eager (the compiled DCNv3 op) on the CPU, in one process, interleaved:
InternImage-T at batch 1 and 8 (224 x 224) and UPerNet-T (512 x 512)::

    python tools/deploy/benchmark_onnx.py [--threads 2] [--repeats 5] [--cases cls-b1 cls-b8 upernet]

Each case is exported once (dynamo exporter, static shape); then the two runtimes alternate, one call
each per round, and the min and median per-call times and their ratio are printed. On a shared machine
only the ratio means much.
"""
import argparse
import os.path as osp
import statistics
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from export_onnx import (ClassifierLogits, SegmentorLogits, export_model, load_model,  # noqa: E402
                         sample_pixels)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CASES = {
    'cls-b1': ('configs/imagenet/internimage_t_1k_224.py', 1, (224, 224)),
    'cls-b8': ('configs/imagenet/internimage_t_1k_224.py', 8, (224, 224)),
    'upernet': ('configs/ade20k/upernet_internimage_t_512_160k_ade20k.py', 1, (512, 512)),
}


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def benchmark(name, threads, repeats):
    import onnxruntime as ort
    config, batch, size = CASES[name]
    cfg, model, task = load_model(osp.join(ROOT, config))
    pixels = sample_pixels(batch, *size)
    proto = export_model(cfg, model, task, pixels)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=['CPUExecutionProvider'])
    feed = {session.get_inputs()[0].name: pixels.numpy()}
    wrapper = ClassifierLogits(model) if task == 'classification' else SegmentorLogits(model)

    def run_torch():
        with torch.no_grad():
            wrapper(pixels)

    def run_ort():
        session.run(None, feed)

    run_torch(), run_ort()  # warm-up
    times = {'torch': [], 'ort': []}
    for _ in range(repeats):
        times['torch'].append(timed(run_torch))
        times['ort'].append(timed(run_ort))
    return {k: (min(v), statistics.median(v)) for k, v in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--cases', nargs='+', choices=sorted(CASES), default=list(CASES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f'{"case":10s} {"PyTorch min/median s":>22s} {"ORT min/median s":>20s} {"ORT/PyTorch (median)":>21s}')
    for name in args.cases:
        result = benchmark(name, args.threads, args.repeats)
        (tmin, tmed), (omin, omed) = result['torch'], result['ort']
        print(f'{name:10s} {tmin:10.3f} / {tmed:8.3f} {omin:9.3f} / {omed:8.3f} {omed / tmed:20.2f}x', flush=True)


if __name__ == '__main__':
    main()
