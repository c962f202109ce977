"""``DCNv4FCBBoxHead``, the box head of the published Cascade FlashInternImage-L 1x config. The published
head only runs with ``with_dcn=False`` (its DCNv4 branch is an unimplemented stub): it is then mmdet's
``ConvFCBBoxHead``, with the same parameters and computation."""
from mmdet.models.roi_heads.bbox_heads import ConvFCBBoxHead


class DCNv4FCBBoxHead(ConvFCBBoxHead):
    """mmdet's ``ConvFCBBoxHead`` under the published name.

    Args:
        with_dcn: must be False (the published DCNv4 branch never ran).
        short_cut: must be False.
        *args, **kwargs: mmdet's ``ConvFCBBoxHead`` arguments.
    """

    def __init__(self, *args, with_dcn=True, short_cut=False, **kwargs):
        if with_dcn or short_cut:
            raise ValueError('DCNv4FCBBoxHead: only with_dcn=False, short_cut=False exists (the published code '
                             'stops on the DCNv4 convolutions as unimplemented)')
        super().__init__(*args, **kwargs)
