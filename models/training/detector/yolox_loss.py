"""YOLOX's training loss with SimOTA label assignment (Ge et al. 2021, section 2.3), written for one CPU.

Per picture: anchors whose centre lies in a ground-truth box or within 2.5 strides of its centre are
candidates; each box takes its k cheapest candidates (cost = class BCE + 3 x -log IoU, k = the sum of its
10 best IoUs, at least 1), and an anchor claimed by two boxes keeps the cheaper. Losses: IoU (1 - IoU^2)
x 5 on the assigned anchors, objectness BCE on all, class BCE against the one-hot class x IoU on the
assigned ones, all divided by the number of assigned anchors.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .yolox_nano import decode_boxes, flatten_levels, grids

REG_WEIGHT = 5.0
CENTRE_RADIUS = 2.5
TOPK_IOU = 10


def cxcywh_to_xyxy(b):
    return torch.stack((b[..., 0] - b[..., 2] / 2, b[..., 1] - b[..., 3] / 2,
                        b[..., 0] + b[..., 2] / 2, b[..., 1] + b[..., 3] / 2), -1)


def pairwise_iou(a, b):
    """IoU of every box in a [G, 4] with every box in b [P, 4], both x1y1x2y2 → [G, P]."""
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def aligned_iou(a, b):
    lt = torch.max(a[:, :2], b[:, :2])
    rb = torch.min(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a + area_b - inter + 1e-9)


@torch.no_grad()
def simota_assign(gt_boxes, gt_classes, pred_boxes, obj_logit, cls_logit, anchor_x, anchor_y, strides, num_classes):
    """→ (fg mask [A] bool, matched gt index per fg anchor [F]). gt_boxes x1y1x2y2 [G, 4]; preds x1y1x2y2 [A, 4]."""
    A = pred_boxes.shape[0]
    G = gt_boxes.shape[0]
    gcx = (gt_boxes[:, 0] + gt_boxes[:, 2]) / 2
    gcy = (gt_boxes[:, 1] + gt_boxes[:, 3]) / 2
    ax, ay = anchor_x[None], anchor_y[None]
    in_box = (ax > gt_boxes[:, 0:1]) & (ax < gt_boxes[:, 2:3]) & (ay > gt_boxes[:, 1:2]) & (ay < gt_boxes[:, 3:4])
    r = CENTRE_RADIUS * strides[None]
    in_centre = ((ax - gcx[:, None]).abs() < r) & ((ay - gcy[:, None]).abs() < r)
    candidate = (in_box | in_centre).any(0)
    fg = torch.zeros(A, dtype=torch.bool, device=pred_boxes.device)
    if not candidate.any():
        return fg, torch.zeros(0, dtype=torch.long, device=pred_boxes.device)
    cand_idx = candidate.nonzero().squeeze(1)
    ious = pairwise_iou(gt_boxes, pred_boxes[cand_idx])
    iou_cost = -torch.log(ious + 1e-8)
    prob = (cls_logit[cand_idx].sigmoid() * obj_logit[cand_idx, None].sigmoid()).sqrt().clamp(1e-6, 1 - 1e-6)
    onehot = F.one_hot(gt_classes, num_classes).float()
    cls_cost = F.binary_cross_entropy(prob[None].expand(G, -1, -1), onehot[:, None].expand(-1, len(cand_idx), -1),
                                      reduction="none").sum(-1)
    both = (in_box & in_centre)[:, cand_idx]
    cost = cls_cost + 3.0 * iou_cost + 1e5 * (~both).float()

    k = min(TOPK_IOU, len(cand_idx))
    dynamic_k = ious.topk(k, 1).values.sum(1).int().clamp(min=1)
    matching = torch.zeros_like(cost, dtype=torch.bool)
    for g in range(G):
        matching[g, cost[g].topk(int(dynamic_k[g]), largest=False).indices] = True
    shared = matching.sum(0) > 1
    if shared.any():
        best = cost[:, shared].argmin(0)
        matching[:, shared] = False
        matching[best, shared.nonzero().squeeze(1)] = True
    assigned = matching.any(0)
    fg[cand_idx[assigned]] = True
    return fg, matching[:, assigned].float().argmax(0)


def yolox_loss(maps, targets, num_classes):
    """maps: head outputs per level [N, 5 + C, H, W]; targets: per picture (classes [G] long, boxes [G, 4] x1y1x2y2 px).

    Returns (total loss, dict of its parts as floats, number of assigned anchors).
    """
    flat = flatten_levels(maps)
    gx, gy, stride = grids([m.shape[2:] for m in maps], flat.device)
    pred_xyxy = cxcywh_to_xyxy(decode_boxes(flat, gx, gy, stride))
    anchor_x, anchor_y = (gx + 0.5) * stride, (gy + 0.5) * stride
    obj_logit, cls_logit = flat[..., 4], flat[..., 5:]

    obj_targets = torch.zeros_like(obj_logit)
    fg_preds, fg_boxes, cls_preds, cls_targets = [], [], [], []
    for b, (classes, boxes) in enumerate(targets):
        if len(classes) == 0:
            continue
        fg, matched = simota_assign(boxes, classes, pred_xyxy[b].detach(), obj_logit[b].detach(), cls_logit[b].detach(),
                                    anchor_x, anchor_y, stride, num_classes)
        if not fg.any():
            continue
        obj_targets[b, fg] = 1.0
        pb, gb = pred_xyxy[b, fg], boxes[matched]
        fg_preds.append(pb)
        fg_boxes.append(gb)
        cls_preds.append(cls_logit[b, fg])
        cls_targets.append(F.one_hot(classes[matched], num_classes).float() * aligned_iou(pb.detach(), gb)[:, None])
    num_fg = max(sum(len(p) for p in fg_preds), 1)
    loss_obj = F.binary_cross_entropy_with_logits(obj_logit, obj_targets, reduction="sum") / num_fg
    if fg_preds:
        iou = aligned_iou(torch.cat(fg_preds), torch.cat(fg_boxes))
        loss_iou = (1 - iou ** 2).sum() / num_fg
        loss_cls = F.binary_cross_entropy_with_logits(torch.cat(cls_preds), torch.cat(cls_targets), reduction="sum") / num_fg
    else:
        loss_iou = loss_cls = flat.sum() * 0
    total = REG_WEIGHT * loss_iou + loss_obj + loss_cls
    return total, {"iou": float(loss_iou), "obj": float(loss_obj), "cls": float(loss_cls)}, num_fg
