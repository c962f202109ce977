"""Benchmark InternImage-T and FlashInternImage-T against mmpretrain's ConvNeXt-T and Swin-T backbones.

Inference at batch 1 and 8 and one training step (forward + backward) at batch 8, 224 x 224,
in eager mode and (``--compile``) with ``torch.compile``, in float32 or (``--bf16``) under bfloat16
autocast (every model alike). The models run interleaved in one
process, one timed call of each in turn per round, so that load from other processes hits them
alike; the table gives the median and the best images/s over the rounds and InternImage-T's
ratio to each other model (above 1: InternImage-T is faster).

On a machine shared with other jobs, wall times swing with their load; ``--cpu-time`` times
the process's CPU time instead, which other processes barely disturb (use it with ``--threads 1``:
with more threads it also counts OpenMP's spin-waiting).

    python tools/analysis_tools/benchmark_backbone.py --threads 2
    python tools/analysis_tools/benchmark_backbone.py --threads 1 --cpu-time --modes infer8 train8
    python tools/analysis_tools/benchmark_backbone.py --threads 2 --compile --rounds 5
    python tools/analysis_tools/benchmark_backbone.py --threads 2 --bf16 --modes infer8
    python tools/analysis_tools/benchmark_backbone.py --models internimage_t internimage_t_pytorch --modes infer8
    python tools/analysis_tools/benchmark_backbone.py --threads 2 --models flash_internimage_t internimage_t convnext_t
"""
import argparse
import os
import statistics
import time

import torch

MODES = {'infer1': (1, False), 'infer8': (8, False), 'train8': (8, True)}  # name: (batch, training step)


def build_model(name):
    if name.startswith('flash_internimage_t'):
        from internimage import FlashInternImage
        from internimage.models.arch_settings import FLASH_ARCH_SETTINGS
        core_op = 'DCNv4_pytorch' if name.endswith('_pytorch') else 'DCNv4'
        # The published classification recipe's backbone, as for InternImage-T below.
        return FlashInternImage(**dict(FLASH_ARCH_SETTINGS['t'], core_op=core_op), drop_path_rate=0.1,
                                out_indices=(3,))
    if name.startswith('internimage_t'):
        from internimage import InternImage
        from internimage.models.arch_settings import ARCH_SETTINGS
        core_op = 'DCNv3_pytorch' if name.endswith('_pytorch') else 'DCNv3'
        # The classification recipe's backbone: drop path 0.1, last stage only.
        return InternImage(**ARCH_SETTINGS['t'], core_op=core_op, drop_path_rate=0.1, out_indices=(3,))
    from mmpretrain.models import ConvNeXt, SwinTransformer
    if name == 'convnext_t':
        return ConvNeXt(arch='tiny', drop_path_rate=0.1)
    if name == 'swin_t':
        return SwinTransformer(arch='tiny', img_size=224, drop_path_rate=0.1)
    raise ValueError(f'benchmark_backbone: unknown model {name!r}')


LABELS = {'internimage_t': 'InternImage-T', 'internimage_t_pytorch': 'InternImage-T (pure-PyTorch core)',
          'flash_internimage_t': 'FlashInternImage-T',
          'flash_internimage_t_pytorch': 'FlashInternImage-T (pure-PyTorch core)',
          'convnext_t': 'ConvNeXt-T', 'swin_t': 'Swin-T'}


class Runner:
    """One model in one mode: ``step()`` runs one timed call."""

    def __init__(self, name, mode, compiled, size, bf16=False):
        batch, self.training = MODES[mode]
        self.bf16 = bf16
        torch.manual_seed(0)
        model = build_model(name)
        model.train(self.training)  # (mmpretrain's ConvNeXt.train returns None)
        self.model = model
        self.fn = torch.compile(model) if compiled else model
        self.images = torch.randn(batch, 3, size, size)
        self.batch = batch

    def step(self):
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=self.bf16):
            self._step()

    def _step(self):
        if self.training:
            feats = self.fn(self.images)
            sum(f.float().mean() for f in feats).backward()
            self.model.zero_grad(set_to_none=True)
        else:
            with torch.no_grad():
                self.fn(self.images)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', default=['internimage_t', 'flash_internimage_t', 'convnext_t', 'swin_t'],
                        choices=list(LABELS), help='the first is the one the ratios are about')
    parser.add_argument('--modes', nargs='+', default=list(MODES), choices=list(MODES))
    parser.add_argument('--compile', action='store_true', help='also time torch.compile(model)')
    parser.add_argument('--bf16', action='store_true', help='every model under bfloat16 autocast (CPU)')
    parser.add_argument('--threads', type=int, default=None, help='CPU threads (default: torch default)')
    parser.add_argument('--rounds', type=int, default=7, help='timed calls per model and mode')
    parser.add_argument('--warmup', type=int, default=2, help='untimed calls first (compiled: after compiling)')
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--cpu-time', action='store_true', help='time CPU time of the process, not wall time')
    args = parser.parse_args()
    clock = time.process_time if args.cpu_time else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, '
          f'load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; '
          f'{"process CPU" if args.cpu_time else "wall"} time; {"bfloat16 autocast" if args.bf16 else "float32"}')
    variants = [False] + ([True] if args.compile else [])
    header = (f'{"mode":7} {"variant":8} {"model":40} | {"img/s med":>9} {"img/s max":>9} | '
              f'{"ratio med":>9} {"ratio best":>10}')
    print(header)
    print('-' * len(header))
    for compiled in variants:
        for mode in args.modes:
            runners = {name: Runner(name, mode, compiled, args.size, args.bf16) for name in args.models}
            for runner in runners.values():
                for _ in range(args.warmup + (1 if compiled else 0)):
                    runner.step()
            samples = {name: [] for name in runners}
            for _ in range(args.rounds):
                for name, runner in runners.items():
                    start = clock()
                    runner.step()
                    samples[name].append(clock() - start)
            first = args.models[0]
            for name, times in samples.items():
                batch = runners[name].batch
                med, best = batch / statistics.median(times), batch / min(times)
                ratio = ''
                if name != first:
                    ratio = (f'{statistics.median(samples[name]) / statistics.median(samples[first]):9.2f} '
                             f'{min(samples[name]) / min(samples[first]):10.2f}')
                print(f'{mode:7} {"compile" if compiled else "eager":8} {LABELS[name]:40} | '
                      f'{med:9.2f} {best:9.2f} | {ratio}', flush=True)
    load = os.getloadavg()
    print(f'load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} '
          f'(ratio = {LABELS[args.models[0]]} images/s over the row\'s)')


if __name__ == '__main__':
    main()
