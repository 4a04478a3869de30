"""Segment operations: sums, outer-product sums (padded and direct agree, to second derivatives), and the
segment softmax with self edge (normalised, excludes zero-weight edges exactly, matches a dense softmax)."""

import torch

from attnff.nn import receiver_slots, segment_outer_sum, segment_softmax_with_self, segment_sum


def test_segment_sum():
    values = torch.arange(6.0).view(3, 2)
    out = segment_sum(values, torch.tensor([2, 0, 2]), 4)
    assert out.tolist() == [[2.0, 3.0], [0.0, 0.0], [4.0, 6.0], [0.0, 0.0]]


def test_receiver_slots_number_each_receivers_edges_in_order():
    receivers = torch.tensor([2, 0, 2, 2, 0, 3])
    assert receiver_slots(receivers, 5).tolist() == [0, 0, 1, 2, 1, 0]


def test_padded_outer_sum_matches_direct_sum_and_its_derivatives():
    """Unsorted receivers, an atom without edges; gradients and gradients of gradients (training) agree."""
    generator = torch.Generator().manual_seed(0)
    receivers = torch.randint(0, 6, (40,), generator=generator)
    receivers[receivers == 4] = 5  # atom 4 receives nothing
    left = torch.randn(40, 15, dtype=torch.float64, generator=generator, requires_grad=True)
    right = torch.randn(40, 16, dtype=torch.float64, generator=generator, requires_grad=True)
    slots = receiver_slots(receivers, 6)
    assert slots is not None

    def derivatives(slots):
        out = segment_outer_sum(left, right, receivers, 6, slots)
        grads = torch.autograd.grad(out.square().sum(), (left, right), create_graph=True)
        second = torch.autograd.grad(sum(g.square().sum() for g in grads), (left, right))
        return out, *grads, *second

    padded, direct = derivatives(slots), derivatives(None)
    assert padded[0].shape == (6, 15, 16) and (padded[0][4] == 0).all()
    for a, b in zip(padded, direct):  # summation order differs: agreement to float64 rounding of sums of ~100 terms
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_weights_sum_to_one_and_match_dense_softmax():
    receivers = torch.tensor([0, 0, 1, 2, 2, 2])
    logits = torch.randn(6, 3, dtype=torch.float64)
    self_logits = torch.randn(4, 3, dtype=torch.float64)  # atom 3 has no edges
    alpha_e, alpha_s = segment_softmax_with_self(logits, torch.ones(6, dtype=torch.float64), receivers, self_logits)
    total = alpha_s.index_add(0, receivers, alpha_e)
    torch.testing.assert_close(total, torch.ones(4, 3, dtype=torch.float64))
    assert (alpha_s[3] == 1).all()
    dense = torch.softmax(torch.stack([self_logits[2], *logits[3:]]), dim=0)
    torch.testing.assert_close(torch.cat([alpha_s[2:3], alpha_e[3:]]), dense)


def test_zero_weight_edges_change_nothing():
    receivers = torch.tensor([0, 0, 0])
    logits = torch.tensor([[1.0], [2.0], [50.0]], dtype=torch.float64)  # the masked edge has the largest logit
    self_logits = torch.tensor([[0.5]], dtype=torch.float64)
    weights = torch.tensor([1.0, 0.7, 0.0], dtype=torch.float64)
    alpha_e, alpha_s = segment_softmax_with_self(logits, weights, receivers, self_logits)
    ref_e, ref_s = segment_softmax_with_self(logits[:2], weights[:2], receivers[:2], self_logits)
    assert alpha_e[2] == 0
    torch.testing.assert_close(alpha_e[:2], ref_e, rtol=0, atol=1e-15)
    torch.testing.assert_close(alpha_s, ref_s, rtol=0, atol=1e-15)


def test_large_logits_are_stable_and_gradients_finite():
    logits = torch.tensor([[800.0], [-800.0]], dtype=torch.float64, requires_grad=True)
    self_logits = torch.tensor([[0.0]], dtype=torch.float64, requires_grad=True)
    alpha_e, alpha_s = segment_softmax_with_self(logits, torch.ones(2, dtype=torch.float64), torch.tensor([0, 0]),
                                                 self_logits)
    (alpha_e.sum() * 2 + alpha_s.sum()).backward()
    assert torch.isfinite(logits.grad).all() and torch.isfinite(self_logits.grad).all()
