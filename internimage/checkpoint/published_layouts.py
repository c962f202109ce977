"""Key layouts of the published DINO and Mask2Former checkpoints, renamed to mmdet 3 / mmseg 1 names.

The published detectors and segmentors were written for mmdet 2 / mmseg 0.x, which had no DINO and
no Mask2Former with these modules: the published code brought its own. Their tensors are exactly
those of mmdet 3's ``DINO`` and mmseg 1's ``Mask2FormerHead`` (same shapes, same order of operations),
under other names (tests/data/published/checkpoint_keys/det_seg/README.md). A layout here is a marker (a
key pattern only the published layout has) and rename rules, written against keys relative to the
module that owns them, so one layout serves every published model with that head: DINO-T/L, the
Objects365 DINO-H/G and CB-InternImage-H (their neck is a one-element list), Mask2Former-H ss/ms.
"""
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedLayout:
    name: str
    marker: str  # regex matching a key (relative to the owner) only in the published layout
    rules: tuple  # (regex, replacement) pairs, applied in order to each relative key
    owner: str  # where the owning module sits in a whole detector or segmentor ('' = the model)

    def recognises(self, keys):
        return any(re.match(self.marker, key) for key in keys)

    def rename(self, key):
        for pattern, replacement in self.rules:
            key = re.sub(pattern, replacement, key)
        return key


PUBLISHED_DINO = PublishedLayout(
    name='published DINO',
    marker=r'bbox_head\.transformer\.',
    rules=(
        (r'^bbox_head\.transformer\.(encoder|decoder)\.', r'\1.'),
        (r'^(encoder|decoder)\.layers\.(\d+)\.ffns\.0\.', r'\1.layers.\2.ffn.'),
        (r'^(encoder|decoder)\.layers\.(\d+)\.attentions\.0\.', r'\1.layers.\2.self_attn.'),
        (r'^decoder\.layers\.(\d+)\.attentions\.1\.', r'decoder.layers.\1.cross_attn.'),
        # a Sequential(Linear, ReLU, Linear) there, mmdet's MLP here
        (r'^decoder\.ref_point_head\.0\.', 'decoder.ref_point_head.layers.0.'),
        (r'^decoder\.ref_point_head\.2\.', 'decoder.ref_point_head.layers.1.'),
        (r'^bbox_head\.transformer\.level_embeds$', 'level_embed'),
        (r'^bbox_head\.transformer\.enc_output\.', 'memory_trans_fc.'),
        (r'^bbox_head\.transformer\.enc_output_norm\.', 'memory_trans_norm.'),
        (r'^bbox_head\.transformer\.query_embed\.', 'query_embedding.'),
        (r'^bbox_head\.label_embedding\.', 'dn_query_generator.label_embedding.'),
        (r'^neck\.0\.', 'neck.'),  # the Objects365 configs give their one neck as a list
    ),
    owner='')

PUBLISHED_MASK2FORMER = PublishedLayout(
    name='published Mask2Former',
    marker=r'(transformer_decoder|pixel_decoder\.encoder)\.layers\.\d+\.(attentions|ffns)\.',
    rules=(
        (r'^pixel_decoder\.encoder\.layers\.(\d+)\.attentions\.0\.', r'pixel_decoder.encoder.layers.\1.self_attn.'),
        (r'^(pixel_decoder\.encoder|transformer_decoder)\.layers\.(\d+)\.ffns\.0\.', r'\1.layers.\2.ffn.'),
        # the published decoder layer starts with cross-attention, and numbers its attentions in order
        (r'^transformer_decoder\.layers\.(\d+)\.attentions\.0\.', r'transformer_decoder.layers.\1.cross_attn.'),
        (r'^transformer_decoder\.layers\.(\d+)\.attentions\.1\.', r'transformer_decoder.layers.\1.self_attn.'),
    ),
    owner='decode_head.')

LAYOUTS = (PUBLISHED_DINO, PUBLISHED_MASK2FORMER)


def rename_published_keys(state_dict, layout, prefix=''):
    """Rename, in place and in order, the keys under ``prefix`` if they are in ``layout``.

    Returns the number of keys renamed (0 when the keys are not in that layout, e.g. our own
    checkpoints). Raises if a renamed key would overwrite another one.
    """
    relative = [key[len(prefix):] for key in state_dict if key.startswith(prefix)]
    if not layout.recognises(relative):
        return 0
    renamed = {}
    for key in list(state_dict):
        if key.startswith(prefix):
            new_key = prefix + layout.rename(key[len(prefix):])
            if new_key != key:
                renamed[key] = new_key
    clashes = sorted(set(renamed.values()) & (set(state_dict) - set(renamed)))
    if clashes:
        raise ValueError(f'{layout.name} layout: renaming would overwrite {clashes[:3]} (a checkpoint mixing '
                         f'the published and mmdet 3 / mmseg 1 names?)')
    for key in list(state_dict):  # re-insert everything to keep the order
        state_dict[renamed.get(key, key)] = state_dict.pop(key)
    return len(renamed)


def convert_published_checkpoint(state_dict):
    """All published layouts found in a whole detector's / segmentor's state dict, renamed in place.
    Returns {layout name: number of keys renamed} for the layouts found."""
    counts = {layout.name: rename_published_keys(state_dict, layout, layout.owner) for layout in LAYOUTS}
    return {name: n for name, n in counts.items() if n}
