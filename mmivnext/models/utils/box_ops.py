"""Paired operations on axis-aligned boxes, for the tracking probe.

Boxes are ``[..., 4]`` tensors. ``xyxy`` is ``(x1, y1, x2, y2)`` with
``x1 <= x2`` and ``y1 <= y2`` for a proper box; ``cxcywh`` is
``(centre x, centre y, width, height)``. Functions named ``paired_*`` compare
the boxes of two tensors of the same shape element by element (box ``i`` of
``a`` with box ``i`` of ``b``), not all against all.

IoU is unchanged when both boxes are scaled by the same factors along x and
y, so it can be computed on boxes normalised by the frame size.
"""
from torch import Tensor
from torchvision.ops import box_convert


def box_cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    """``(cx, cy, w, h)`` -> ``(cx - w/2, cy - h/2, cx + w/2, cy + h/2)``
    (torchvision's :func:`~torchvision.ops.box_convert`)."""
    return box_convert(boxes, 'cxcywh', 'xyxy')


def box_xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    """``(x1, y1, x2, y2)`` -> ``((x1 + x2)/2, (y1 + y2)/2, x2 - x1, y2 - y1)``
    (torchvision's :func:`~torchvision.ops.box_convert`)."""
    return box_convert(boxes, 'xyxy', 'cxcywh')


def _check_pair(a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape or a.shape[-1:] != (4, ):
        raise ValueError(f'Expected two box tensors [..., 4] of one shape, got '
                         f'{tuple(a.shape)} and {tuple(b.shape)}.')


def paired_box_iou(a: Tensor, b: Tensor, eps: float = 1e-7) -> Tensor:
    """IoU of box ``a[i]`` with box ``b[i]``.

    ``IoU = |A ∩ B| / |A ∪ B|`` with ``|A ∪ B| = |A| + |B| - |A ∩ B|``. A box
    with ``x2 < x1`` or ``y2 < y1`` counts as empty (area 0). Two empty boxes
    have IoU 0 (the union is floored at ``eps``).

    Args:
        a (Tensor): ``[..., 4]`` xyxy boxes.
        b (Tensor): ``[..., 4]`` xyxy boxes, same shape.
        eps (float): Floor of the union. Defaults to 1e-7.

    Returns:
        Tensor: ``[...]`` IoUs in ``[0, 1]``.
    """
    return _iou_parts(a, b, eps)[0]


def _iou_parts(a: Tensor, b: Tensor, eps: float):
    """IoU and union of paired boxes (see :func:`paired_box_iou`)."""
    _check_pair(a, b)
    area_a = (a[..., 2] - a[..., 0]).clamp(min=0) * \
        (a[..., 3] - a[..., 1]).clamp(min=0)
    area_b = (b[..., 2] - b[..., 0]).clamp(min=0) * \
        (b[..., 3] - b[..., 1]).clamp(min=0)
    inter_w = (a[..., 2].minimum(b[..., 2]) -
               a[..., 0].maximum(b[..., 0])).clamp(min=0)
    inter_h = (a[..., 3].minimum(b[..., 3]) -
               a[..., 1].maximum(b[..., 1])).clamp(min=0)
    inter = inter_w * inter_h
    union = (area_a + area_b - inter).clamp(min=eps)
    return inter / union, union


def paired_generalized_box_iou(a: Tensor, b: Tensor,
                               eps: float = 1e-7) -> Tensor:
    """Generalised IoU (Rezatofighi et al., CVPR 2019) of ``a[i]`` and ``b[i]``.

    With ``C`` the smallest axis-aligned box enclosing ``A`` and ``B``::

        GIoU = IoU - (|C| - |A ∪ B|) / |C|

    It lies in ``(-1, 1]``: 1 for identical boxes, below 0 for disjoint boxes
    far apart (unlike IoU, which is 0 for every disjoint pair, it still says
    how far apart they are).

    Args:
        a (Tensor): ``[..., 4]`` xyxy boxes.
        b (Tensor): ``[..., 4]`` xyxy boxes, same shape.
        eps (float): Floor of the union and of ``|C|``. Defaults to 1e-7.

    Returns:
        Tensor: ``[...]`` GIoUs.
    """
    iou, union = _iou_parts(a, b, eps)
    hull_w = (a[..., 2].maximum(b[..., 2]) -
              a[..., 0].minimum(b[..., 0])).clamp(min=0)
    hull_h = (a[..., 3].maximum(b[..., 3]) -
              a[..., 1].minimum(b[..., 1])).clamp(min=0)
    hull = (hull_w * hull_h).clamp(min=eps)
    return iou - (hull - union) / hull
