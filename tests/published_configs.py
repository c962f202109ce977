"""The published resolved configs (mmdet 2 / mmseg 0.x names, tests/data/published/published_configs) and
ours (mmdet 3 / mmseg 1), put into one vocabulary setting by setting, for the comparison test.

The mapping of names, all of it here:

| published (mmdet 2 / mmseg 0.x)                  | ours (mmdet 3 / mmseg 1)                                   |
|---|---|
| model (Mask R-CNN, Cascade, UperNet)             | model, same names; ``train_cfg.*.debug`` and mmseg 0's     |
|                                                  | ``model.pretrained`` (InternImage loads via init_cfg) drop |
| DINO ``bbox_head.transformer.{encoder,decoder}`` | ``encoder`` / ``decoder`` with ``layer_cfg.{self_attn_cfg, |
|   ``.transformerlayers.{attn_cfgs, ...}``        | cross_attn_cfg, ffn_cfg}``; ``num_query`` -> ``num_queries``|
| DINO ``dn_cfg.noise_scale.{label,box}``          | ``dn_cfg.{label,box}_noise_scale``                         |
| ``assigner.{cls,reg,iou,mask,dice}_cost``        | ``assigner.match_costs`` (in that order)                   |
| Mask2Former ``transformerlayers.{attn_cfgs,      | ``layer_cfg.{self_attn_cfg, cross_attn_cfg, ffn_cfg}``;    |
|   ffn_cfgs}``, ``model.train_cfg``               | ``decode_head.train_cfg``                                  |
| types ``DINO``, ``DINOHead``, ``Mask2FormerHead``| ``PublishedDINO``, ``PublishedDINOHead``,                  |
|   ``EncoderDecoderMask2Former``                  | ``PublishedMask2FormerHead``, ``EncoderDecoder``           |
| ``optimizer`` (+ ``constructor``, ``paramwise_cfg``), ``optimizer_config.grad_clip`` | ``optim_wrapper.{optimizer, constructor, paramwise_cfg, clip_grad}`` |
| ``lr_config`` (step / poly, linear warm-up), ``runner`` | ``param_scheduler`` (LinearLR + MultiStepLR / PolyLR, all from 0), ``train_cfg`` |
| ``data.samples_per_gpu``                         | ``train_dataloader.batch_size``                            |
| ``Resize(img_scale, multiscale_mode='value')``   | ``RandomChoiceResize(scales)``                             |
| ``Resize(img_scale, ratio_range)``               | ``RandomResize(scale, ratio_range)``                       |
| ``RandomFlip(flip_ratio)``, ``AutoAugment(policies)`` | ``RandomFlip(prob)``, ``RandomChoice(transforms)``    |
| ``MultiScaleFlipAug`` with one scale, no flip    | its transforms at that scale (no test-time augmentation)   |
| ``Normalize``, ``Pad``                           | ``model.data_preprocessor`` (mean, std, bgr_to_rgb, pad)   |
| ``DefaultFormatBundle``, ``Collect``, ``ImageToTensor``, ``ToMask`` | ``Pack*Inputs`` (Mask2Former makes its masks in the head) |
| ``evaluation``, ``checkpoint_config``            | ``train_cfg.val_interval``, ``val_evaluator``, ``default_hooks.checkpoint`` |
| ``ExpMomentumEMAHook(momentum)``                 | ``EMAHook(ema_type='ExpMomentumEMA', momentum)``           |
| ``Resize(img_scale, multiscale_mode='range')``   | ``RandomResize(scale)``                                    |
| ``MultiScaleFlipAug`` with ``img_ratios`` / flip | ``tta_pipeline``: ``TestTimeAug`` over the scales          |
|   (multi-scale testing)                          |   (``img_scale`` x each ratio) and flips                   |
| CB ``neck=[CBChannelMapper(...)]``               | ``neck=ChannelMapper(...)`` (CBDINO maps the lead's        |
|                                                  |   features at test, both backbones' in training)           |
| DINO-G ``ffn_cfgs=EfficientFFN(use_checkpoint)`` | ``EfficientFFNDINO(ffn_split, ffn_with_cp)``               |
| DINO ``train_cfg.snip_cfg``, ``fed_loss_cfg``    | dropped: no published code reads them                      |
| ``MapillaryHack``                                | ``MapillaryToCityscapesLabels``                            |
| ``data.train.img_dir`` (a list: several folders) | ``ConcatDataset`` of one dataset per folder (same pipeline)|
|                                                  |   (image folders compared; label folders follow mmseg 1's  |
|                                                  |   layouts, e.g. Mapillary's ``v1.2/labels``)               |
| ``data.{train,val,test}`` of LVIS / VOC /        | ``{train,val,test}_dataloader.dataset``: wrapper (``Class- |
|   OpenImages / CrowdHuman: ``type``, wrappers,   |   BalancedDataset``, ``RepeatDataset``), type, annotation  |
|   ``ann_file`` / ``img_prefix`` (lists: several  |   files and image folders (``data_root`` joined; a list:   |
|   datasets)                                      |   ``ConcatDataset``), ``filter_cfg.filter_empty_gt`` where |
|                                                  |   mmdet 3's class filters (COCO, LVIS, VOC)                |
| ``RepeatDataset(pipeline=...)`` (VOC)            | the wrapped dataset's pipeline: mmdet 2 ignores a pipeline |
|                                                  |   on the wrapper, training ran the inner one               |
| ``data.train_dataloader.class_aware_sampler``    | dropped: mmdet 2 ignores it under ``IterBasedRunner``      |
| CrowdHuman ``annotation_*.json`` (the published  | mmdet 3's ``CrowdHumanDataset`` on the release's           |
|   converter's COCO-style copy of the ``.odgt``)  |   ``annotation_*.odgt``                                    |
| ``LoadAnnotations(denorm_bbox=True)``            | ``LoadAnnotations``: mmdet 3's ``OpenImagesDataset``       |
|   (OpenImages)                                   |   denormalises boxes with the image metas as it loads      |
| ``evaluation.metric`` of LVIS / VOC / OpenImages | ``val_evaluator``: ``LVISMetric`` (metric), ``VOCMetric``  |
|   / CrowdHuman                                   |   (metric; 11-point AP on VOC 2007, area otherwise, as     |
|                                                  |   mmdet 2), ``OpenImagesMetric``, ``CrowdHumanMetric``     |
|                                                  |   (AP, MR, JI: the published evaluate() returned nothing)  |
| OpenImages ``evaluation.save_best='auto'``       | ``save_best='openimages/mAP'`` (``rule='greater'``):       |
|                                                  |   mmengine infers no rule for the first figure, ``AP50``   |
| ``github.com/OpenGVLab/InternImage/releases/     | ``huggingface.co/OpenGVLab/InternImage/resolve/main/``:    |
|   download/cls_model/`` (a weight's address)     |   the same file where the published repository keeps it now|

Ours may add settings the published configs do not have (mmdet 3 / mmseg 1 defaults, our label
checks); a published setting missing from ours is accepted only where it equals the default of the
argument in the class that our config builds (read from its signature).
"""
import inspect
import os

# Our configs of published detectors and segmentors, by folder of configs/: COCO / ADE20K (issues 16, 17, 23)
# and the other datasets (issue 25).
CONFIG_FOLDERS = ('coco', 'ade20k', 'cityscapes', 'mapillary', 'coco_stuff164k', 'coco_stuff10k', 'pascal_context',
                  'nyu_depth_v2', 'lvis', 'voc', 'openimages', 'crowd_human')
# Cityscapes, Mapillary, COCO-Stuff 164k / 10k, Pascal Context, NYU; LVIS, VOC, OpenImages, CrowdHuman
OTHER_DATASET_CONFIGS = 10 + 5 + 1 + 1 + 1 + 1 + 2 + 2 + 1 + 1
ORIGINAL_TYPES = {'DINO': 'PublishedDINO', 'DINOHead': 'PublishedDINOHead',
                  'Mask2FormerHead': 'PublishedMask2FormerHead', 'EncoderDecoderMask2Former': 'EncoderDecoder'}
# The detection datasets of issue 25, and those whose mmdet 3 class filters images by filter_cfg.
OTHER_DETECTION_DATASETS = ('LVISV1Dataset', 'VOCDataset', 'OpenImagesDataset', 'CrowdHumanDataset')
FILTERING_DATASETS = ('CocoDataset', 'LVISV1Dataset', 'VOCDataset')
OLD_WEIGHTS, WEIGHTS = ('https://github.com/OpenGVLab/InternImage/releases/download/cls_model/',
                        'https://huggingface.co/OpenGVLab/InternImage/resolve/main/')
WRAPPERS = {'ClassBalancedDataset': 'oversample_thr', 'RepeatDataset': 'times'}  # and the setting each adds
DROPPED_TRANSFORMS = {'Normalize', 'Pad', 'DefaultFormatBundle', 'Collect', 'ImageToTensor', 'ToMask'}
OUR_ONLY_TRANSFORMS = {'PackDetInputs', 'PackSegInputs', 'CheckSegLabels'}


def without(d, *keys):
    return {k: v for k, v in d.items() if k not in keys}


def typed(cls_name, d, *drop):
    """A dict without 'type' whose missing settings are checked against class ``cls_name``'s defaults."""
    if cls_name == 'FFN' and d.get('with_cp') is False:
        drop += ('with_cp',)  # mmcv 2's FFN has no gradient checkpointing to switch off
    return {'_class': cls_name, **without(d, 'type', *drop)}


# ----------------------------------------------------------------------------------------- model
def published_model(model):
    model = dict(model)
    model.pop('pretrained', None)
    for section in ('train_cfg',):
        cfg = model.get(section) or {}
        for stage in ('rpn', 'rcnn'):
            if isinstance(cfg.get(stage), dict):
                cfg[stage] = without(cfg[stage], 'debug')
            elif isinstance(cfg.get(stage), list):
                cfg[stage] = [without(c, 'debug') for c in cfg[stage]]
    if model['type'] in ('DINO', 'CBDINO'):
        return published_dino(model)
    if model['type'] == 'EncoderDecoderMask2Former':
        return published_mask2former(model)
    return model


def match_costs(assigner, names):
    return dict(type=assigner['type'], match_costs=[assigner[name] for name in names])


def published_dino(model):
    head, transformer = model['bbox_head'], model['bbox_head']['transformer']
    encoder, decoder = transformer['encoder'], transformer['decoder']
    enc_layer, dec_layer = encoder['transformerlayers'], decoder['transformerlayers']
    self_attn, cross_attn = dec_layer['attn_cfgs']

    def ffn(layer):
        return dict(_class='FFN', feedforward_channels=layer['feedforward_channels'], ffn_drop=layer['ffn_dropout'])

    dn = head['dn_cfg']
    detector = dict(type=model['type'])
    if enc_layer.get('ffn_cfgs', {}).get('type') == 'EfficientFFN':  # the published G's FFN
        ffn_cfg = enc_layer['ffn_cfgs']
        detector = dict(type='EfficientFFNDINO', ffn_split=ffn_cfg.get('split', 4),
                        ffn_with_cp=ffn_cfg.get('use_checkpoint', False))
    neck = model['neck']
    if isinstance(neck, list):  # CB: one CBChannelMapper (mapping the lead's features, cb_idx 1, at test)
        (neck,) = neck
        neck = dict(without(neck, 'cb_idx'), type='ChannelMapper')
    return dict(
        **detector, num_queries=head['num_query'], as_two_stage=head['as_two_stage'],
        with_box_refine=head['with_box_refine'], backbone=model['backbone'], neck=neck,
        encoder=dict(num_layers=encoder['num_layers'], layer_cfg=dict(
            self_attn_cfg=typed('MultiScaleDeformableAttention', enc_layer['attn_cfgs']), ffn_cfg=ffn(enc_layer))),
        decoder=dict(num_layers=decoder['num_layers'], return_intermediate=decoder['return_intermediate'],
                     layer_cfg=dict(self_attn_cfg=typed('MultiheadAttention', self_attn),
                                    cross_attn_cfg=typed('MultiScaleDeformableAttention', cross_attn),
                                    ffn_cfg=ffn(dec_layer))),
        positional_encoding=typed('SinePositionalEncoding', head['positional_encoding']),
        bbox_head=dict(type=head['type'], num_classes=head['num_classes'],
                       sync_cls_avg_factor=head['sync_cls_avg_factor'], loss_cls=head['loss_cls'],
                       loss_bbox=head['loss_bbox'], loss_iou=head['loss_iou']),
        dn_cfg=dict(label_noise_scale=dn['noise_scale']['label'], box_noise_scale=dn['noise_scale']['box'],
                    group_cfg=dn['group_cfg']),
        train_cfg=dict(assigner=match_costs(model['train_cfg']['assigner'], ('cls_cost', 'reg_cost', 'iou_cost'))),
        test_cfg=model['test_cfg'])


def published_mask2former(model):
    head = model['decode_head']
    pixel_decoder, decoder = head['pixel_decoder'], head['transformer_decoder']
    enc_layer, dec_layer = pixel_decoder['encoder']['transformerlayers'], decoder['transformerlayers']
    # batch_first: the data layout of mmcv 1's layers, not a setting (mmdet 3's layers are batch-first)
    msda = typed('MultiScaleDeformableAttention', enc_layer['attn_cfgs'], 'batch_first')
    mha = typed('MultiheadAttention', dec_layer['attn_cfgs'], 'batch_first')
    train_cfg = dict(model['train_cfg'])
    train_cfg['assigner'] = dict(type='HungarianAssigner', match_costs=[
        train_cfg['assigner'][name] for name in ('cls_cost', 'mask_cost', 'dice_cost')])
    return dict(
        type='EncoderDecoderMask2Former', backbone=model['backbone'],
        decode_head=dict(
            type='Mask2FormerHead', **{k: head[k] for k in (
                'in_channels', 'feat_channels', 'out_channels', 'num_queries', 'num_transformer_feat_level',
                'enforce_decoder_input_project', 'loss_cls', 'loss_mask', 'loss_dice', 'num_classes')},
            pixel_decoder=dict(
                type=pixel_decoder['type'], num_outs=pixel_decoder['num_outs'], norm_cfg=pixel_decoder['norm_cfg'],
                act_cfg=pixel_decoder['act_cfg'],
                encoder=dict(num_layers=pixel_decoder['encoder']['num_layers'], layer_cfg=dict(
                    self_attn_cfg=msda, ffn_cfg=typed('FFN', enc_layer['ffn_cfgs']))),
                positional_encoding=typed('SinePositionalEncoding', pixel_decoder['positional_encoding'])),
            positional_encoding=typed('SinePositionalEncoding', head['positional_encoding']),
            transformer_decoder=dict(
                num_layers=decoder['num_layers'], return_intermediate=decoder['return_intermediate'],
                layer_cfg=dict(self_attn_cfg=mha, cross_attn_cfg=mha, ffn_cfg=typed('FFN', dec_layer['ffn_cfgs']))),
            train_cfg=train_cfg),
        # the rest are panoptic / instance outputs
        test_cfg={k: v for k, v in model['test_cfg'].items() if k in ('mode', 'crop_size', 'stride')})


# ------------------------------------------------------------------------------------- pipelines
def published_transform(t):
    kind = t['type']
    if kind == 'Resize' and 'ratio_range' in t:
        return [dict(type='RandomResize', scale=t['img_scale'], ratio_range=t['ratio_range'],
                     keep_ratio=t.get('keep_ratio', True))]
    if kind == 'Resize' and t.get('multiscale_mode') == 'range':
        return [dict(type='RandomResize', scale=t['img_scale'], keep_ratio=t['keep_ratio'])]
    if kind == 'Resize' and t.get('multiscale_mode') == 'value' and isinstance(t['img_scale'], list):
        return [dict(type='RandomChoiceResize', scales=t['img_scale'], keep_ratio=t['keep_ratio'])]
    if kind == 'Resize':
        return [dict(type='Resize', scale=t['img_scale'], keep_ratio=t['keep_ratio'])]
    if kind == 'RandomFlip':
        return [dict(type='RandomFlip', prob=t.get('flip_ratio', t.get('prob')))]
    if kind == 'AutoAugment':
        return [dict(type='RandomChoice', transforms=[published_pipeline(p) for p in t['policies']])]
    if kind == 'MultiScaleFlipAug' and (t.get('flip') or t.get('img_ratios')):
        return [published_test_time_augmentation(t)]
    if kind == 'MultiScaleFlipAug':
        assert not t.get('flip') and not isinstance(t['img_scale'], list), 'test-time augmentation'
        inner = []
        for step in t['transforms']:
            if step['type'] == 'Resize':
                inner.append(dict(type='Resize', scale=t['img_scale'], keep_ratio=step['keep_ratio']))
            elif step['type'] not in DROPPED_TRANSFORMS | {'RandomFlip'}:  # flip=False: no flip
                inner += published_transform(step)
        return inner
    if kind == 'LoadAnnotations' and t.get('denorm_bbox'):
        return [without(t, 'denorm_bbox')]
    if kind == 'MapillaryHack':
        return [dict(type='MapillaryToCityscapesLabels')]
    if kind in DROPPED_TRANSFORMS:
        return []
    return [dict(t)]


def published_test_time_augmentation(t):
    """mmseg 0's / mmdet 2's MultiScaleFlipAug as mmseg 1's / mmdet 3's TestTimeAug: one list of choices
    per step, the resize over ``img_scale`` times each ratio (as mmseg 0 computes them), the flip with and
    without (when ``flip``)."""
    width, height = t['img_scale']
    steps = []
    for step in t['transforms']:
        if step['type'] == 'Resize':
            steps.append([dict(type='Resize', scale=(int(width * r), int(height * r)), keep_ratio=step['keep_ratio'])
                          for r in t.get('img_ratios', [1.0])])
        elif step['type'] == 'RandomFlip' and t.get('flip'):
            direction = t.get('flip_direction', 'horizontal')
            steps.append([dict(type='RandomFlip', prob=prob, direction=direction) for prob in (0.0, 1.0)])
        elif step['type'] not in DROPPED_TRANSFORMS | {'RandomFlip'}:
            steps.append(published_transform(step))
    return dict(type='TestTimeAug', transforms=steps)


def published_pipeline(pipeline):
    return [step for t in pipeline for step in published_transform(t)]


def our_pipeline(pipeline, test=False):
    kept = []
    for t in pipeline:
        if t['type'] in OUR_ONLY_TRANSFORMS or (test and t['type'] == 'LoadAnnotations'):
            continue  # mmdet 3 / mmseg 1 load test labels in the pipeline for the evaluator
        if t['type'] == 'RandomChoice':
            t = dict(t, transforms=[our_pipeline(p) for p in t['transforms']])
        if t['type'] == 'TestTimeAug':
            t = dict(t, transforms=[kept for kept in (our_pipeline(p, test) for p in t['transforms']) if kept])
        kept.append(dict(t))
    return kept


def published_preprocessing(pipeline):
    """The data preprocessor's settings that the published train pipeline's Normalize / Pad give."""
    settings = {}
    for t in pipeline:
        if t['type'] == 'Normalize':
            settings.update(mean=t['mean'], std=t['std'], bgr_to_rgb=t['to_rgb'])
        elif t['type'] == 'Pad' and 'size_divisor' in t:
            settings['pad_size_divisor'] = t['size_divisor']
        elif t['type'] == 'Pad':
            settings.update(size=t['size'], pad_val=t['pad_val'], seg_pad_val=t['seg_pad_val'])
    return settings


# -------------------------------------------------------------------------------------- schedule
def published_schedule(cfg):
    lr, runner = cfg['lr_config'], cfg['runner']
    by_epoch = runner['type'] == 'EpochBasedRunner'
    length = runner['max_epochs'] if by_epoch else runner['max_iters']
    schedule = dict(warmup=(lr['warmup'], lr['warmup_iters'], lr['warmup_ratio']), by_epoch=by_epoch, length=length)
    if lr['policy'] == 'step':
        schedule.update(policy='step', milestones=lr['step'], gamma=lr.get('gamma', 0.1))
    else:
        schedule.update(policy='poly', power=lr['power'], min_lr=lr['min_lr'], decay_begin=0)
    return schedule


def our_schedule(cfg):
    warmup, main = cfg['param_scheduler']
    by_epoch = main['by_epoch']
    length = cfg['train_cfg']['max_epochs'] if by_epoch else cfg['train_cfg']['max_iters']
    assert warmup['type'] == 'LinearLR' and warmup['begin'] == 0 and not warmup['by_epoch']
    assert main['end'] == length, (main['end'], length)
    schedule = dict(warmup=('linear', warmup['end'], warmup['start_factor']), by_epoch=by_epoch, length=length)
    if main['type'] == 'MultiStepLR':
        assert main['begin'] == 0
        schedule.update(policy='step', milestones=main['milestones'], gamma=main['gamma'])
    else:
        schedule.update(policy='poly', power=main['power'], min_lr=main['eta_min'], decay_begin=main['begin'])
    return schedule


# ------------------------------------------------------------------------------------ everything
def unwrapped(dataset):
    """The dataset inside the wrappers (mmdet 2 ignores a wrapper's own pipeline)."""
    while dataset['type'] in WRAPPERS:
        dataset = dataset['dataset']
    return dataset


def published_data(dataset, train):
    """Wrapper, type and (annotation file, image folder) pairs of an mmdet 2 dataset of LVIS / VOC /
    OpenImages / CrowdHuman."""
    wrapper = [(dataset['type'], dataset[WRAPPERS[dataset['type']]])] if dataset['type'] in WRAPPERS else []
    inner = unwrapped(dataset)
    ann_files, prefixes = inner['ann_file'], inner['img_prefix']
    ann_files, prefixes = (ann_files, prefixes) if isinstance(ann_files, list) else ([ann_files], [prefixes])
    if inner['type'] == 'CrowdHumanDataset':  # the published converter's json of the release's .odgt
        ann_files = [f.replace('.json', '.odgt') for f in ann_files]
    data = dict(wrapper=wrapper, type=inner['type'],
                files=[(os.path.normpath(a), os.path.normpath(p)) for a, p in zip(ann_files, prefixes)])
    if inner['type'] in FILTERING_DATASETS and train:
        data['filter_empty_gt'] = inner.get('filter_empty_gt', True)  # mmdet 2's default: True
    return data


def our_data(dataset, train):
    wrapper = []
    while dataset['type'] in WRAPPERS:
        wrapper.append((dataset['type'], dataset[WRAPPERS[dataset['type']]]))
        dataset = dataset['dataset']
    datasets = dataset['datasets'] if dataset['type'] == 'ConcatDataset' else [dataset]
    files = []
    for d in datasets:
        prefix = d.get('data_prefix', {})
        folder = prefix.get('img', prefix.get('sub_data_root', ''))
        files.append((os.path.normpath(os.path.join(d['data_root'], d['ann_file'])),
                      os.path.normpath(os.path.join(d['data_root'], folder))))
    data = dict(wrapper=wrapper, type=datasets[0]['type'], files=files)
    if datasets[0]['type'] in FILTERING_DATASETS and train:
        filters = {d['filter_cfg']['filter_empty_gt'] for d in datasets}
        data['filter_empty_gt'] = filters.pop() if len(filters) == 1 else filters
    return data


def published_evaluator(dataset, evaluation):
    """The mmdet 3 metric that scores the published evaluation of these datasets, with its settings."""
    kind = unwrapped(dataset)['type']
    if kind == 'LVISV1Dataset':
        return dict(type='LVISMetric', metric=evaluation['metric'])
    if kind == 'VOCDataset':  # mmdet 2 scores VOC 2007 with 11-point AP, other years by area
        year_2007 = 'VOC2007' in unwrapped(dataset)['img_prefix']
        return dict(type='VOCMetric', metric=evaluation['metric'], eval_mode='11points' if year_2007 else 'area')
    if kind == 'OpenImagesDataset':  # mmdet 2's defaults (IoU / IoA 0.5, group-of, super-categories)
        return dict(type='OpenImagesMetric', iou_thrs=0.5, ioa_thrs=0.5, use_group_of=True, get_supercategory=True)
    return dict(type='CrowdHumanMetric', metric=['AP', 'MR', 'JI'])


def published_settings(cfg):
    data, optimizer = cfg['data'], dict(cfg['optimizer'])
    evaluation, checkpoint = cfg.get('evaluation', {}), cfg.get('checkpoint_config', {})
    ema = [h for h in cfg.get('custom_hooks', []) if h['type'] == 'ExpMomentumEMAHook']
    settings = dict(
        model=published_model(cfg['model']),
        data_preprocessor=published_preprocessing(unwrapped(data['train'])['pipeline']),
        train_pipeline=published_pipeline(unwrapped(data['train'])['pipeline']),
        test_pipeline=published_pipeline(data['test']['pipeline']),
        batch_size=data['samples_per_gpu'],
        optimizer=typed('AdamW', without(optimizer, 'constructor', 'paramwise_cfg')),
        constructor=optimizer.get('constructor', 'DefaultOptimWrapperConstructor'),
        paramwise_cfg=optimizer.get('paramwise_cfg'),
        clip_grad=(cfg.get('optimizer_config') or {}).get('grad_clip'),
        schedule=published_schedule(cfg),
        val_interval=evaluation.get('interval', 1),
        metric=evaluation.get('metric'),
        save_best=evaluation.get('save_best'),
        checkpoint=dict(interval=checkpoint.get('interval'), max_keep_ckpts=checkpoint.get('max_keep_ckpts', -1)),
        ema=[dict(type='ExpMomentumEMA', momentum=h['momentum']) for h in ema],
        load_from=cfg.get('load_from'))
    if 'img_dir' in data['train']:  # segmentation: the folders of training images
        folders = data['train']['img_dir']
        settings['train_images'] = folders if isinstance(folders, list) else [folders]
    if data['train']['type'] == 'CocoDataset':
        settings['filter_empty_gt'] = data['train'].get('filter_empty_gt', True)  # mmdet 2's default: True
    if 'classwise' in evaluation:
        settings['classwise'] = evaluation['classwise']
    if unwrapped(data['train'])['type'] in OTHER_DETECTION_DATASETS:
        settings.update({f'{split}_data': published_data(data[split], split == 'train')
                         for split in ('train', 'val', 'test')})
        settings['metric'] = published_evaluator(data['val'], evaluation)
        if settings['save_best'] == 'auto' and unwrapped(data['train'])['type'] == 'OpenImagesDataset':
            settings['save_best'] = 'openimages/mAP'  # mmengine infers no rule for the first figure, AP50
    return settings


def our_settings(cfg, published):
    """Our config's settings in the vocabulary of ``published_settings`` (``published`` only says which
    optional settings to read)."""
    wrapper, train, test = cfg['optim_wrapper'], cfg['train_dataloader'], cfg['test_dataloader']
    evaluator, checkpoint = cfg['val_evaluator'], cfg['default_hooks']['checkpoint']
    train_dataset = unwrapped(train['dataset'])
    train_datasets = train_dataset['datasets'] if train_dataset['type'] == 'ConcatDataset' else [train_dataset]
    pipelines = [our_pipeline(d['pipeline']) for d in train_datasets]
    assert all(p == pipelines[0] for p in pipelines), 'the concatenated training datasets differ in pipeline'
    settings = dict(
        model=without(cfg['model'], 'data_preprocessor'),
        data_preprocessor=cfg['model']['data_preprocessor'],
        train_pipeline=pipelines[0],
        test_pipeline=our_pipeline(test['dataset']['pipeline'], test=True),
        batch_size=train['batch_size'],
        optimizer=wrapper['optimizer'],
        constructor=wrapper.get('constructor', 'DefaultOptimWrapperConstructor'),
        paramwise_cfg=wrapper.get('paramwise_cfg'),
        clip_grad=wrapper.get('clip_grad'),
        schedule=our_schedule(cfg),
        val_interval=cfg['train_cfg'].get('val_interval', 1),
        metric=evaluator.get('metric', 'mIoU' if 'iou_metrics' in evaluator else None),
        save_best=checkpoint.get('save_best'),
        checkpoint=dict(interval=checkpoint['interval'], max_keep_ckpts=checkpoint.get('max_keep_ckpts', -1)),
        ema=[dict(type=h['ema_type'], momentum=h['momentum']) for h in cfg.get('custom_hooks', [])
             if h['type'] == 'EMAHook'],
        load_from=cfg.get('load_from'))
    if any(t['type'] == 'TestTimeAug' for t in published['test_pipeline']):  # multi-scale testing
        settings['test_pipeline'] = our_pipeline(cfg['tta_pipeline'], test=True)
    if 'train_images' in published:
        settings['train_images'] = [d['data_prefix']['img_path'] for d in train_datasets]
    if 'filter_empty_gt' in published:
        settings['filter_empty_gt'] = train['dataset']['filter_cfg']['filter_empty_gt']
    if 'classwise' in published:
        settings['classwise'] = evaluator.get('classwise', False)
    if isinstance(evaluator.get('iou_metrics'), list):
        settings['metric'] = evaluator['iou_metrics'][0]
    if 'train_data' in published:
        settings.update({f'{split}_data': our_data(cfg[f'{split}_dataloader']['dataset'], split == 'train')
                         for split in ('train', 'val', 'test')})
        settings['metric'] = evaluator
    return settings


# ------------------------------------------------------------------------------------ comparison
def constructor_default(class_name, key):
    """The default of argument ``key`` of the class our config builds under that name."""
    import mmcv.cnn.bricks.transformer  # noqa: F401  (registers the transformer bricks)
    import torch
    from mmdet.registry import MODELS
    from mmengine.registry import MODELS as ENGINE_MODELS
    cls = getattr(torch.optim, class_name, None) or MODELS.get(class_name) or ENGINE_MODELS.get(class_name)
    parameter = inspect.signature(cls.__init__).parameters.get(key) if cls else None
    return inspect.Parameter.empty if parameter is None else parameter.default


def canonical(value):
    if isinstance(value, tuple):
        return [canonical(v) for v in value]
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, str) and value.startswith('mmdet.'):
        return value[len('mmdet.'):]
    if isinstance(value, str) and value.startswith(OLD_WEIGHTS):
        return WEIGHTS + value[len(OLD_WEIGHTS):]
    return value


def differences(published, ours, path='', class_name=None):
    """Every published setting (leaf) that ours does not equal, as 'path: published vs ours'."""
    published, ours = canonical(published), canonical(ours)
    if isinstance(published, dict) and isinstance(ours, dict):
        class_name = published.get('_class', published.get('type', class_name))
        found = []
        for key, value in published.items():
            if key == '_class':
                continue
            where = f'{path}.{key}' if path else key
            if key in ours:
                found += differences(value, ours[key], where, class_name if key != 'type' else None)
            elif canonical(constructor_default(class_name, key)) != value:
                found.append(f'{where}: {value!r} vs (absent)')
        return found
    if isinstance(published, list) and isinstance(ours, list) and len(published) == len(ours):
        return [d for i, (p, o) in enumerate(zip(published, ours)) for d in differences(p, o, f'{path}.{i}')]
    if path.endswith('.type') or path == 'type':
        published = ORIGINAL_TYPES.get(published, published)
    if isinstance(published, float) and isinstance(ours, (int, float)) and abs(published - ours) <= 1e-12:
        return []
    return [] if published == ours else [f'{path}: {published!r} vs {ours!r}']
