"""The memory of one training step, measured without the memory or the arithmetic: the model is built
and run on fake tensors (shapes and dtypes only, torch's ``FakeTensorMode``) while torch's ``MemTracker``
follows every storage, by kind: parameters, gradients, activations (saved for backward, recomputed by
activation checkpointing), temporaries of backward. So the giant models are measured at their published
image sizes on a CPU, in seconds.

The step is forward, loss and backward; the optimizer state (AdamW: two fp32 tensors a parameter) is
counted from the parameters, and is held through the step. Where the loss cannot run on fake tensors
(a Hungarian matcher computes on the CPU with scipy: DINO, Mask2Former) the backward starts from the
sum of the head's outputs, which leaves out the (small) loss tensors. Not counted: the allocator's
fragmentation, cuDNN / cuBLAS workspaces, the CUDA context, the data loader.
"""
import contextlib
import copy
from dataclasses import dataclass

import torch
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode, unset_fake_temporarily
from torch.utils._pytree import arg_tree_leaves
from torch.distributed._tools.mem_tracker import _TOTAL_KEY, MemTracker

from ..models.backbone import InternImageLayer

GRADIENT_BYTES = 4  # float32, per trained parameter
ADAMW_STATE_BYTES = 8  # exp_avg and exp_avg_sq in float32, per trained parameter


class _PeakTracker(MemTracker):
    """torch's MemTracker keeping only what is needed here, the peak of all memory and the peak of the
    working memory (all but weights and gradients: what FSDP does not shard). Its own per-module peaks
    cost a pass over every module at every operation, minutes for a giant model."""

    working_peak = 0

    def _update_peak_stats(self, peak_state):
        for device, snapshot in self._curr_mem_snap.items():
            if self._peak_mem.get(device, 0) < snapshot[_TOTAL_KEY]:
                self._peak_mem[device] = snapshot[_TOTAL_KEY]
                self._peak_mem_snap[device] = dict(snapshot)
            working = snapshot[_TOTAL_KEY] - snapshot['Parameter'] - snapshot['Gradient']
            self.working_peak = max(self.working_peak, working)


class _FakeWithRealConstants(FakeTensorMode):
    """Fake tensors, except that an operation whose tensor arguments are all real runs for real. The
    detectors compute small index tensors from shapes and ground truth (feature-map sizes, denoising
    queries) whose values decide later shapes; given real shapes and ground truth, those stay real."""

    def __init__(self):
        super().__init__(allow_non_fake_inputs=True)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        tensors = [a for a in arg_tree_leaves(*args, **(kwargs or {})) if isinstance(a, torch.Tensor)]
        if tensors and not any(isinstance(t, FakeTensor) for t in tensors):
            return func(*args, **(kwargs or {}))  # this mode is off inside its own dispatch
        return super().__torch_dispatch__(func, types, args, kwargs)


def _real(make):
    """Call ``make`` outside the fake mode: its tensors are real."""
    with unset_fake_temporarily():
        return make()


@dataclass
class StepMemory:
    """One training step, in bytes as measured: the peak of forward + backward and its parts, and the
    parameters. The per-GPU figures add the optimizer state and the wrapper's own memory."""
    parameters: int  # number of parameters
    trainable: int  # of which trained (gradients, optimizer state)
    weights: int
    peak: int  # all memory at the peak of forward + backward
    working_peak: int  # the peak of activations, temporaries and buffers (everything but weights, gradients)
    saved: int  # activations held at the end of forward (saved for backward)
    largest_unit: int  # parameters of the largest InternImage block or transformer layer (an FSDP unit)

    @property
    def gradients(self):
        """All gradients (after backward)."""
        return GRADIENT_BYTES * self.trainable

    @property
    def optimizer(self):
        """AdamW's state."""
        return ADAMW_STATE_BYTES * self.trainable

    @property
    def states(self):
        """Weights, all gradients, AdamW state."""
        return self.weights + self.gradients + self.optimizer

    def data_parallel(self):
        """Bytes per GPU under DDP: the optimizer state, DDP's gradient buckets (a second copy of the
        gradients, without ``gradient_as_bucket_view``), and the larger of the forward/backward peak and
        the weights with every gradient computed."""
        return self.optimizer + self.gradients + max(self.peak, self.weights + self.gradients)

    def sharded(self, gpus):
        """Bytes per GPU under FSDP over ``gpus`` GPUs (full sharding): weights, gradients and optimizer
        state divided, the working memory whole, plus two gathered units (the running one and the
        prefetched one: float32 weights and gradients, unsharded)."""
        return self.states / gpus + self.working_peak + 2 * (4 + GRADIENT_BYTES) * self.largest_unit


def training_input_size(cfg):
    """(height, width) of the largest training input of a config: a segmentor's crop
    (``model.data_preprocessor.size``), else from the largest (long, short) scale of the training
    pipeline's resizes, as (short, long)."""
    size = cfg.model.get('data_preprocessor', {}).get('size')
    if size:
        return tuple(size)
    dataset = cfg.train_dataloader.dataset
    while 'pipeline' not in dataset and 'dataset' in dataset:
        dataset = dataset.dataset
    scales = []

    def collect(transforms):
        for transform in transforms:
            if isinstance(transform, (list, tuple)):
                collect(transform)
                continue
            collect(transform.get('transforms', []))
            for key in ('scale', 'scales'):
                value = transform.get(key)
                if value is not None:
                    scales.extend(value if isinstance(value[0], (list, tuple)) else [value])
    collect(dataset.get('pipeline', []))
    if not scales:
        raise ValueError('training_input_size: no crop size (model.data_preprocessor.size) and no resize '
                         'scale in the training pipeline; give the size')
    long_side, short_side = max((max(scale), min(scale)) for scale in scales)
    return short_side, long_side


def _data_samples(scope, batch, height, width, num_classes, boxes_per_image):
    meta = dict(img_shape=(height, width), pad_shape=(height, width), batch_input_shape=(height, width),
                ori_shape=(height, width), scale_factor=(1.0, 1.0))
    if scope == 'mmseg':
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        samples = []
        for _ in range(batch):
            sample = SegDataSample(metainfo=meta)
            sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, height, width)))
            samples.append(sample)
        return samples
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    samples = []
    for _ in range(batch):
        sample = DetDataSample(metainfo=meta)
        corner = torch.rand(boxes_per_image, 2) * torch.tensor([width / 2, height / 2])
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([corner, corner + torch.tensor([width / 2, height / 2])], dim=1),
            labels=torch.randint(0, num_classes, (boxes_per_image,)))
        samples.append(sample)
    return samples


def _backward_from(outputs):
    """Sum of every floating-point tensor in a (nested) output, as one scalar."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float().sum() if outputs.is_floating_point() and outputs.requires_grad else 0
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        return sum((_backward_from(o) for o in outputs), 0)
    return 0


@contextlib.contextmanager
def _measurable():
    """mmseg's decode heads log the pixel accuracy by selecting the labelled pixels: a shape that depends
    on values, which fake tensors lack. The metric has no gradients and negligible memory: left out.
    mmdet's deformable DETRs take feature-map sizes as a tensor (``torch._shape_as_tensor``): made real."""
    from unittest import mock
    shape_as_tensor = torch._shape_as_tensor
    no_accuracy = mock.patch('mmseg.models.decode_heads.decode_head.accuracy',
                             lambda pred, target, **kwargs: pred.new_zeros(()))
    with no_accuracy, mock.patch('torch._shape_as_tensor', lambda tensor: _real(lambda: shape_as_tensor(tensor))):
        yield


class _TrainingLoss(torch.nn.Module):
    """The model's loss on a batch, or for models whose loss needs real values (``matched``), the sum of
    the head's outputs in training mode. A module, so that the tracker sees one root call (mmdet's DETRs
    call parts of their head from outside its ``forward``)."""

    def __init__(self, model, matched):
        super().__init__()
        self.model, self.matched = model, matched

    def forward(self, inputs, samples):
        if not self.matched:
            losses = self.model(inputs, samples, mode='loss')
            return _backward_from({key: value for key, value in losses.items() if 'loss' in key})
        # mode='tensor' does not run these heads as in training (mmseg calls Mask2Former's head without
        # the data samples, mmdet's DINO does not pass its encoder's outputs on): the steps are taken here.
        if hasattr(self.model, 'decode_head'):
            return _backward_from(self.model.decode_head(self.model.extract_feat(inputs), samples))
        head_inputs = self.model.forward_transformer(self.model.extract_feat(inputs), samples)
        outputs = self.model.bbox_head(head_inputs['hidden_states'], head_inputs['references'])
        return _backward_from([outputs, head_inputs.get('enc_outputs_class'), head_inputs.get('enc_outputs_coord')])


def build_training_step(cfg, checkpointing):
    """``cfg``'s model in training mode, every InternImage block checkpointed or none, wrapped in the
    module that runs one step's forward and loss (:class:`_TrainingLoss`; the model is its ``model``)."""
    from mmengine.registry import MODELS
    model = MODELS.build(copy.deepcopy(cfg.model))
    for module in model.modules():
        if isinstance(module, InternImageLayer):
            module.with_cp = checkpointing
    # A Hungarian matcher (DINO, Mask2Former) computes on real values with scipy.
    return _TrainingLoss(model.train(), matched='HungarianAssigner' in str(cfg.model))


def _largest_unit(model):
    from ..engine.fsdp import is_sharded_unit
    sizes = [sum(p.numel() for p in m.parameters()) for m in model.modules() if is_sharded_unit(m)]
    return max(sizes, default=0)


def measure_training_step(cfg, size=None, batch=None, checkpointing=False, boxes_per_image=20):
    """:class:`StepMemory` of one training step of ``cfg``'s model on ``batch`` images of ``size`` (height,
    width; default: the config's batch per GPU and :func:`training_input_size`), every InternImage block
    checkpointed or none (``checkpointing``, the published ``with_cp``).

    One image is measured as half of two: the giants train one image per GPU, with SyncBN normalising over
    all GPUs, but alone BatchNorm cannot train on one value per channel (UPerNet's pooled 1x1 features).
    Activations and temporaries are per image."""
    from mmengine.registry import DefaultScope
    height, width = size or training_input_size(cfg)
    batch = batch or cfg.train_dataloader.batch_size
    measured_batch = max(batch, 2)
    scope = cfg.get('default_scope', 'mmengine')
    head = cfg.model.get('decode_head') or cfg.model.get('bbox_head') or {}
    num_classes = head.get('num_classes', 2)
    with _FakeWithRealConstants(), DefaultScope.overwrite_default_scope(scope), _measurable():
        step = build_training_step(cfg, checkpointing)  # kept alive: the tracker follows it into backward
        model = step.model
        tracker = _PeakTracker()
        tracker.track_external(model)
        with tracker:
            inputs = torch.randn(measured_batch, 3, height, width)
            samples = _real(lambda: _data_samples(scope, measured_batch, height, width, num_classes, boxes_per_image))
            loss = step(inputs, samples)
            saved = next(iter(tracker.get_tracker_snapshot().values()))['Activation']
            loss.backward()
        peak = next(iter(tracker.get_tracker_snapshot('peak').values()))
        working = peak[_TOTAL_KEY] - peak['Parameter'] - peak['Gradient']

        def per_batch(nbytes):  # working memory of the measured batch, for the batch asked for
            return nbytes * batch // measured_batch
        return StepMemory(parameters=sum(p.numel() for p in model.parameters()),
                          trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
                          weights=peak['Parameter'], peak=peak['Parameter'] + peak['Gradient'] + per_batch(working),
                          working_peak=per_batch(tracker.working_peak), saved=per_batch(saved),
                          largest_unit=_largest_unit(model))
