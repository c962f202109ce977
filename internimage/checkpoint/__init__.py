"""Checkpoints: loading into a backbone or a whole model (``loading``), the published checkpoints'
layouts as data applied on load (``published_layouts``), and loading without running code from the
file (``safe_loading``). Import the module you need: this package imports nothing on its own."""
