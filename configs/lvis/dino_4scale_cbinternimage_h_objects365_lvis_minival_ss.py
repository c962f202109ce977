# DINO with CB-InternImage-H on LVIS v1, validated and tested on LVIS minival (5000 images of val; bring
# the annotation file as data/lvis_v1/annotations/lvis_v1_minival.json): box AP 65.8 single-scale
# published, 2,180,865,889 parameters. As ./dino_4scale_cbinternimage_h_objects365_lvis_val_ss.py.
_base_ = ['./dino_4scale_cbinternimage_h_objects365_lvis_val_ss.py']

val_dataloader = dict(dataset=dict(ann_file='annotations/lvis_v1_minival.json'))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file='data/lvis_v1/annotations/lvis_v1_minival.json')
test_evaluator = val_evaluator
