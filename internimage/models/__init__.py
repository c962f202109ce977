"""The networks: the InternImage / FlashInternImage backbone (``backbone``), its published sizes
(``arch_settings``), the composite CB-InternImage (``composite``), the deformable attention of the heads on
this project's operator (``ms_deform_attn``) and their registration into a downstream package
(``registration``). Import the module you need: this package imports nothing on its own."""
