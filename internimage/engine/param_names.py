"""Parameter names and shapes of the plain model, read from a wrapped one (DDP, FSDP units,
activation checkpointing): what the layer-decay constructors match their rules against.

No torch.distributed import here: the optimizer constructors need only these names, not FSDP.
"""
# Set on each parameter before sharding (``InternImageFSDP``): its shape in the unsharded model.
FULL_SHAPE = 'internimage_full_shape'
# Wrapper prefixes inside parameter names of a wrapped model (FSDP units, activation checkpointing).
WRAPPER_PREFIXES = ('_fsdp_wrapped_module.', '_checkpoint_wrapped_module.')


def unwrapped_name(name):
    """A parameter's name in the plain model, from its name in a DDP / FSDP-wrapped model."""
    for prefix in WRAPPER_PREFIXES:
        name = name.replace(prefix, '')
    return name[len('module.'):] if name.startswith('module.') else name


def full_ndim(param):
    """Dimensions of a parameter in the unsharded model (FSDP's views of a shard are 1-d)."""
    return len(getattr(param, FULL_SHAPE, param.shape))
