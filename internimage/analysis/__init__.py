"""Model analysis: FLOP counting (``flops``) and the memory of a training step (``training_memory``).
Import the module you need: this package imports nothing on its own."""
