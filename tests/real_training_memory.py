"""Run by tests/test_training_memory.py in its own process (glibc's malloc told to map every large block
on its own, MALLOC_MMAP_THRESHOLD_, so that a freed tensor leaves the resident set at once): for a config
at a small size, with and without activation checkpointing, prints as JSON

- ``fake``: internimage.analysis.training_memory's measurement on fake tensors,
- ``resident``: what a real training step (forward, loss, backward) adds to the process's peak resident
  memory (VmHWM, reset through /proc/self/clear_refs after the model is built and has taken one step).

    python tests/real_training_memory.py CONFIG HEIGHT WIDTH
"""
import dataclasses
import json
import sys

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from internimage.analysis import training_memory as tm

BATCH = 2


def resident(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def real_step_bytes(cfg, size, checkpointing):
    scope = cfg.default_scope
    with DefaultScope.overwrite_default_scope(scope), tm._measurable():
        step = tm.build_training_step(cfg, checkpointing)

        def one_step():  # the input batch counts: it is the step's (on the GPU)
            inputs = torch.randn(BATCH, 3, *size)
            samples = tm._data_samples(scope, BATCH, *size, num_classes=4, boxes_per_image=20)
            step(inputs, samples).backward()
        one_step()  # first step: one-time allocations (thread pools, kernels' caches)
        step.zero_grad(set_to_none=True)
        before = resident('VmRSS')
        with open('/proc/self/clear_refs', 'w') as clear_refs:
            clear_refs.write('5')  # VmHWM := VmRSS
        one_step()
        return resident('VmHWM') - before


def main():
    config, height, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(2)
    cfg = Config.fromfile(config)  # imports its custom_imports
    results = {}
    for checkpointing in (False, True):
        fake = tm.measure_training_step(cfg, (height, width), BATCH, checkpointing)
        results[str(checkpointing)] = dict(fake=dataclasses.asdict(fake),
                                           resident=real_step_bytes(cfg, (height, width), checkpointing))
    print('RESULTS ' + json.dumps(results))


if __name__ == '__main__':
    main()
