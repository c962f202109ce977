"""Config options that build published layouts at a test's or a CPU benchmark's cost
(tests/test_onnx_models.py, tools/analysis_tools/benchmark_detectors.py)."""

# Options that give the published Mask2Former-H head (configs/ade20k/mask2former_internimage_h_*)
# mmseg's stock Mask2Former widths (256 channels, 8 heads, FFN 1024, 100 queries): the same layout at a
# test's or a CPU benchmark's cost. The backbone's channels (decode_head.in_channels) are set apart.
MASK2FORMER_STOCK_WIDTHS = {
    'model.decode_head.feat_channels': 256, 'model.decode_head.out_channels': 256, 'model.decode_head.num_queries': 100,
    'model.decode_head.pixel_decoder.encoder.layer_cfg.self_attn_cfg.embed_dims': 256,
    'model.decode_head.pixel_decoder.encoder.layer_cfg.self_attn_cfg.num_heads': 8,
    'model.decode_head.pixel_decoder.encoder.layer_cfg.ffn_cfg.embed_dims': 256,
    'model.decode_head.pixel_decoder.encoder.layer_cfg.ffn_cfg.feedforward_channels': 1024,
    'model.decode_head.pixel_decoder.positional_encoding.num_feats': 128,
    'model.decode_head.positional_encoding.num_feats': 128,
    'model.decode_head.transformer_decoder.layer_cfg.self_attn_cfg.embed_dims': 256,
    'model.decode_head.transformer_decoder.layer_cfg.self_attn_cfg.num_heads': 8,
    'model.decode_head.transformer_decoder.layer_cfg.cross_attn_cfg.embed_dims': 256,
    'model.decode_head.transformer_decoder.layer_cfg.cross_attn_cfg.num_heads': 8,
    'model.decode_head.transformer_decoder.layer_cfg.ffn_cfg.embed_dims': 256,
    'model.decode_head.transformer_decoder.layer_cfg.ffn_cfg.feedforward_channels': 1024}
