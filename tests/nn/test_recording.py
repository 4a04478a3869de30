"""attnff.nn.recording: the attention-recording switch is off by default and always switched back off."""

import pytest
import torch
from torch import nn

from attnff.nn import RecordsAttention, record_attention


class _Toy(RecordsAttention, nn.Module):
    def forward(self, x):
        if self.recording is not None:
            self.record(torch.tensor([0, 1]), torch.tensor([1, 0]), x)
        return 2 * x


def test_records_each_call_by_layer_name():
    model = nn.Sequential(_Toy(), nn.Identity(), _Toy())
    x = torch.ones(2, 1, requires_grad=True)
    with record_attention(model) as records:
        model(x)
        model(x)
    assert list(records) == ["0", "2"]
    assert [len(calls) for calls in records.values()] == [2, 2]
    assert not records["0"][0].weights.requires_grad
    model(x)
    assert len(records["0"]) == 2  # nothing recorded after the block


def test_switched_off_after_an_error_and_not_nestable():
    model = nn.Sequential(_Toy())
    with pytest.raises(ZeroDivisionError):
        with record_attention(model):
            raise ZeroDivisionError("inside the recording block")
    assert model[0].recording is None
    with record_attention(model):
        with pytest.raises(RuntimeError, match="already"):
            with record_attention(model):
                pass
    assert model[0].recording is None


def test_record_with_self_appends_self_pairs():
    layer = _Toy()
    with record_attention(layer) as records:
        layer.record_with_self(torch.tensor([[0], [1]]), torch.tensor([[0.3]]), torch.tensor([[0.7], [1.0]]))
    (record,) = records[""]
    assert record.receivers.tolist() == [0, 0, 1]
    assert record.senders.tolist() == [1, 0, 1]
    assert record.weights.squeeze(-1).tolist() == pytest.approx([0.3, 0.7, 1.0])
