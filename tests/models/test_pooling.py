"""Attention pooling: permutation invariant, padding invariant, intensive (ABP(X) = ABP(X u X))."""

import torch

from attnff.models.pooling import AttentionPooling, pad_by_structure


def _readout():
    torch.manual_seed(0)
    return AttentionPooling(width_in=6, width=8, heads=2, num_seeds=3, out_features=2).double().eval()


def _sets():
    sizes = [4, 7, 2]
    features = torch.randn(sum(sizes), 6, dtype=torch.float64)
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    return features, batch


def test_pad_by_structure():
    features, batch = _sets()
    padded, mask = pad_by_structure(features, batch, 3)
    assert padded.shape == (3, 7, 6) and mask.sum().item() == 3 * 7 - 13
    torch.testing.assert_close(padded[2, :2], features[11:13])


def test_permutation_invariance():
    readout = _readout()
    features, batch = _sets()
    out = readout(features, batch, 3)
    order = torch.randperm(len(batch))
    torch.testing.assert_close(readout(features[order], batch[order], 3), out, atol=1e-12, rtol=0)


def test_padding_length_does_not_matter():
    readout = _readout()
    features, batch = _sets()
    together = readout(features, batch, 3)  # structure 2 padded from 2 to 7 atoms
    alone = readout(features[11:13], torch.zeros(2, dtype=torch.long), 1)  # no padding
    torch.testing.assert_close(together[2:3], alone, atol=1e-12, rtol=0)


def test_intensive_duplicating_every_atom_changes_nothing():
    readout = _readout()
    features, batch = _sets()
    doubled = readout(torch.cat([features, features]), torch.cat([batch, batch]), 3)
    torch.testing.assert_close(doubled, readout(features, batch, 3), atol=1e-12, rtol=0)


def test_isab_encoder_keeps_permutation_and_padding_invariance():
    torch.manual_seed(0)
    readout = AttentionPooling(width_in=6, width=8, heads=2, num_seeds=3, out_features=2, inducing=3).double().eval()
    features, batch = _sets()
    out = readout(features, batch, 3)
    order = torch.randperm(len(batch))
    torch.testing.assert_close(readout(features[order], batch[order], 3), out, atol=1e-12, rtol=0)
    alone = readout(features[11:13], torch.zeros(2, dtype=torch.long), 1)
    torch.testing.assert_close(out[2:3], alone, atol=1e-12, rtol=0)
    doubled = readout(torch.cat([features, features]), torch.cat([batch, batch]), 3)
    torch.testing.assert_close(doubled, out, atol=1e-12, rtol=0)
