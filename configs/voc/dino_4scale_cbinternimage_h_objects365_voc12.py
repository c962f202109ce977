# DINO with CB-InternImage-H on PASCAL VOC, for the VOC 2012 test server: mAP 97.2 published (VOC 2012
# test, scored by the server), 2,178,434,824 parameters. Trained and validated as
# ./dino_4scale_cbinternimage_h_objects365_voc07.py (07+12 trainval, VOC 2007 test); tools/test.py runs on
# VOC2012 test (data/VOCdevkit/VOC2012test/, no ground truth) and writes the server's result files
# (VOCResultWriter: work_dirs/voc2012_test/results/VOC2012/Main/comp4_det_test_<class>.txt;
# pack the results folder and upload it, configs/voc/README.md).
_base_ = ['./dino_4scale_cbinternimage_h_objects365_voc07.py']

test_dataloader = dict(dataset=dict(
    _delete_=True, type='VOCDataset', data_root='data/VOCdevkit/', ann_file='VOC2012test/ImageSets/Main/test.txt',
    data_prefix=dict(sub_data_root='VOC2012test/'), test_mode=True, pipeline={{_base_.test_pipeline}}))
test_evaluator = dict(_delete_=True, type='VOCResultWriter', out_dir='work_dirs/voc2012_test')
