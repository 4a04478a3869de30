"""Multilayer perceptron with optional LayerNorm between layers."""

from collections.abc import Sequence

from torch import nn

__all__ = ["MLP"]


class MLP(nn.Sequential):
    """Linear layers of the given widths with an activation (and LayerNorm) in between.

    Args:
        widths: (in, hidden..., out); no activation after the last layer.
        activation: module class applied after each hidden layer.
        layer_norm: LayerNorm after each hidden linear layer (JAT readout style).
    """

    def __init__(self, widths: Sequence[int], activation: type[nn.Module] = nn.SiLU, layer_norm: bool = False):
        layers: list[nn.Module] = []
        for k, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if k < len(widths) - 2:
                if layer_norm:
                    layers.append(nn.LayerNorm(fan_out))
                layers.append(activation())
        super().__init__(*layers)
