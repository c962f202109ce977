"""Benchmark the compiled DCNv3 core against the pure-PyTorch reference.

Same inputs, same run: forward, backward and forward+backward at the InternImage stage
shapes. The measurements of one shape run interleaved (one call of each in turn per
round), so load from other processes hits them alike; the table gives the median and the
best time in milliseconds, the speed-up over the reference and the compiled backward's
time over its forward.

On a machine shared with other jobs, wall times swing with their load; ``--cpu-time`` times
the process's CPU time instead, which other processes barely disturb. Use it with
``--threads 1``: with more threads it also counts OpenMP's spin-waiting.

    python tools/analysis_tools/benchmark_dcnv3.py                 # CPU (and CUDA when present)
    python tools/analysis_tools/benchmark_dcnv3.py --device cpu --threads 2 --dtype bfloat16
    python tools/analysis_tools/benchmark_dcnv3.py --device cpu --threads 1 --cpu-time
"""
import argparse
import os
import statistics
import time

import torch

import ops_dcnv3
from ops_dcnv3.functions import DCNv3Function, dcnv3_core_pytorch

# (N, H, W, C, G) of InternImage stages.
SHAPES = [(1, 56, 56, 64, 4), (1, 28, 28, 128, 8), (2, 100, 152, 64, 4)]


def make_inputs(shape, device, dtype, kernel=3):
    n, h, w, c, g = shape
    gen = torch.Generator().manual_seed(0)
    points = kernel * kernel
    x = torch.randn(n, h, w, c, generator=gen)
    offset = torch.randn(n, h, w, g * points * 2, generator=gen)
    mask = torch.softmax(torch.randn(n, h, w, g, points, generator=gen), -1).reshape(n, h, w, -1)
    params = (kernel, kernel, 1, 1, 1, 1, 1, 1, g, c // g, 1.0)
    return [t.to(device, dtype).requires_grad_() for t in (x, offset, mask)], params


def compiled(x, offset, mask, params):
    return DCNv3Function.apply(x, offset, mask, *params, 256, 0)


def reference(x, offset, mask, params):
    return dcnv3_core_pytorch(x, offset, mask, *params, 0)


def timed(fn, device, clock=time.perf_counter):
    if device == 'cuda':
        torch.cuda.synchronize()
    start = clock()
    fn()
    if device == 'cuda':
        torch.cuda.synchronize()
    return (clock() - start) * 1e3


def bench(shape, device, dtype, repeat, clock=time.perf_counter):
    """{(core, 'fwd' | 'bwd' | 'fwd+bwd'): [ms, ...]}, measured interleaved."""
    inputs, params = make_inputs(shape, device, dtype)
    grad = torch.randn_like(compiled(*inputs, params))
    calls = {}
    for name, core in (('compiled', compiled), ('reference', reference)):
        def forward(core=core):
            with torch.no_grad():
                core(*inputs, params)

        def forward_backward(core=core):
            torch.autograd.grad(core(*inputs, params), inputs, grad)

        graph = core(*inputs, params)  # kept for the backward-only calls

        def backward(graph=graph):
            torch.autograd.grad(graph, inputs, grad, retain_graph=True)
        calls.update({(name, 'fwd'): forward, (name, 'bwd'): backward, (name, 'fwd+bwd'): forward_backward})
    return measure(calls, device, repeat, clock)


def measure(calls, device, repeat, clock=time.perf_counter, warm_up=2, burst_ms=5.0):
    """{key: [ms, ...]} of each of ``calls`` ({key: function}), after ``warm_up`` calls each, in
    ``repeat`` rounds of one burst each in turn; a sample is the mean call of a burst of back-to-back
    calls lasting about ``burst_ms``. A single call of under a millisecond measures mostly the state
    the call before left (cold caches and sleeping threads after the reference: DCNv4's forward took
    0.19 ms in a run of calls, 0.56 ms after a large tensor operation), so short calls are timed in
    runs, the steady state of a layer called again and again. Each round starts one burst later than
    the one before, so that no call always follows the same one."""
    bursts = {}
    for key, fn in calls.items():
        for _ in range(warm_up):
            fn()
        bursts[key] = max(1, min(50, int(burst_ms / max(timed(fn, device, clock), 1e-3))))
    samples = {key: [] for key in calls}
    keys = list(calls)
    for round_ in range(repeat):
        start = round_ % len(keys)
        for key in keys[start:] + keys[:start]:
            count = bursts[key]
            samples[key].append(timed(lambda: [calls[key]() for _ in range(count)], device, clock) / count)
    return samples


def common_arguments(parser):
    """--device, --threads, --repeat and --cpu-time (shared with benchmark_dcnv4.py)."""
    parser.add_argument('--device', choices=['cpu', 'cuda'], action='append',
                        help='device(s) to run on (default: cpu, and cuda when available)')
    parser.add_argument('--threads', type=int, default=None, help='CPU threads (default: torch default)')
    parser.add_argument('--repeat', type=int, default=20)
    parser.add_argument('--cpu-time', action='store_true', help='time CPU time of the process, not wall time')


def set_up(args, what):
    """Applies --threads, prints the run's settings (``what``: e.g. the dtypes); returns (devices, clock)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()
    print(f'ops_dcnv3 backends: {sorted(ops_dcnv3.backends())}; torch {torch.__version__}; '
          f'{torch.get_num_threads()} CPU threads; {what}; load average {load[0]:.2f} {load[1]:.2f}; '
          f'{"process CPU" if args.cpu_time else "wall"} time')
    devices = args.device or ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    return devices, (time.process_time if args.cpu_time else time.perf_counter)


def compiled_devices(devices, legend, header):
    """Prints the table's legend and header; yields the devices with a compiled kernel, saying which
    are skipped."""
    print(legend)
    print(header)
    print('-' * len(header))
    for device in devices:
        if device in ops_dcnv3.backends():
            yield device
        else:
            print(f'{device}: no compiled kernel in this build, skipped')


def summary(samples):
    """Median and best of each key's times, and ``cell(key)``: 'median/best' right-aligned."""
    med = {key: statistics.median(v) for key, v in samples.items()}
    best = {key: min(v) for key, v in samples.items()}

    def cell(key, width=13):
        return f'{med[key]:.2f}/{best[key]:.2f}'.rjust(width)
    return med, best, cell


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_arguments(parser)
    parser.add_argument('--dtype', default='float32', choices=['float32', 'float16', 'bfloat16', 'float64'])
    args = parser.parse_args()
    devices, clock = set_up(args, args.dtype)
    dtype = getattr(torch, args.dtype)
    legend = ('ms as median/best of the interleaved rounds; x = reference time over compiled time; '
              'bwd/fwd = compiled backward over compiled forward')
    header = (f'{"device":6} {"N,H,W,C,G":>15} | {"fwd ms":>13} {"x":>11} | {"bwd ms":>13} {"bwd/fwd":>9} | '
              f'{"fwd+bwd ms":>13} {"ref ms":>15} {"x":>11}')
    for device in compiled_devices(devices, legend, header):
        for shape in SHAPES:
            med, best, pair = summary(bench(shape, device, dtype, args.repeat, clock))

            def ratio(num, den, width=11):
                return f'{med[num] / med[den]:.1f}/{best[num] / best[den]:.1f}'.rjust(width)
            c, r = 'compiled', 'reference'
            print(f'{device:6} {",".join(map(str, shape)):>15} | {pair((c, "fwd"))} {ratio((r, "fwd"), (c, "fwd"))} | '
                  f'{pair((c, "bwd"))} {ratio((c, "bwd"), (c, "fwd"), 9)} | {pair((c, "fwd+bwd"))} '
                  f'{pair((r, "fwd+bwd"), 15)} {ratio((r, "fwd+bwd"), (c, "fwd+bwd"))}', flush=True)


if __name__ == '__main__':
    main()
