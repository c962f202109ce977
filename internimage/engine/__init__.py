"""Training and testing machinery around mmengine's Runner: layer-wise lr decay (``layer_decay``),
hooks (``hooks``), distributed training on CPUs (``cpu_ddp``), sharded training (``fsdp``) and what
``tools/train.py`` / ``tools/test.py`` share (``launch``).

Import the module you need: this package imports nothing on its own, so that a module here never
pulls in another's optional dependencies."""
