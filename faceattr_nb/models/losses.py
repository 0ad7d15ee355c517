"""Loss helpers shared by the model files (each paper's loss stays in its model)."""
import torch
import torch.nn.functional as F


def bce_per_attr(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy per attribute, averaged over the batch: (B, A) -> (A,)."""
    return F.binary_cross_entropy_with_logits(logits.float(), y.float(), reduction="none").mean(0)


def softmax_ce_per_attr(logits2: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Two-way softmax cross-entropy per attribute: logits2 (B, A, 2), y (B, A) -> (A,)."""
    B, A, _ = logits2.shape
    ce = F.cross_entropy(logits2.float().reshape(B * A, 2), y.long().reshape(B * A), reduction="none")
    return ce.reshape(B, A).mean(0)


def two_way_to_binary(logits2: torch.Tensor) -> torch.Tensor:
    """(B, A, 2) softmax logits -> (B, A) logits whose sigmoid is the softmax P(positive)."""
    return logits2[..., 1] - logits2[..., 0]
