# The published Cityscapes fine-tuning data after Mapillary pre-training: ./cityscapes_512x1024.py with the
# 19,998 train_extra images (leftImg8bit/train_extra) and their refined coarse labels
# (refinement_final/train_extra/<city>/*_gtFine_labelTrainIds.png, the published layout) trained on beside
# the 2,975 fine ones; validation and test on Cityscapes val.
_base_ = ['./cityscapes_512x1024.py']

cityscapes = dict(type='CityscapesDataset', data_root='data/cityscapes/', pipeline={{_base_.train_pipeline}})
train_dataloader = dict(dataset=dict(_delete_=True, type='ConcatDataset', datasets=[
    dict(**cityscapes, data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train')),
    dict(**cityscapes, data_prefix=dict(img_path='leftImg8bit/train_extra',
                                        seg_map_path='refinement_final/train_extra')),
]))
