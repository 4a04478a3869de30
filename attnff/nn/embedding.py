"""Atom embeddings: ground-state electron configurations (CMRET) and charge/spin scalars."""

import torch
from torch import nn

__all__ = ["ORBITALS", "electron_configuration_table", "ElectronConfigurationEmbedding"]

#: Subshells in Madelung (Aufbau) filling order, as CMRET orders its 22 inputs.
ORBITALS = ("1s", "2s", "2p", "3s", "3p", "4s", "3d", "4p", "5s", "4d", "5p", "6s", "4f", "5d", "6p", "7s",
            "5f", "6d", "7p", "6f", "7d", "7f")
_CAPACITY = {"s": 2, "p": 6, "d": 10, "f": 14}


def electron_configuration_table(max_z: int = 118) -> torch.Tensor:
    """(max_z + 1, 22) electron counts per subshell by strict Aufbau filling (row 0 is zeros).

    The few elements whose true ground state breaks the Madelung rule (Cr, Cu, Pd, ...)
    get the Aufbau configuration; the learned linear layer on top absorbs the difference.
    """
    table = torch.zeros(max_z + 1, len(ORBITALS))
    for z in range(1, max_z + 1):
        left = z
        for k, orbital in enumerate(ORBITALS):
            take = min(left, _CAPACITY[orbital[-1]])
            table[z, k] = take
            left -= take
            if left == 0:
                break
    return table


class ElectronConfigurationEmbedding(nn.Module):
    """s0_i = W x(Z_i) + b with x the 22 subshell occupations (CMRET Eq. 1).

    Args:
        width: F.
    """

    configurations: torch.Tensor  # buffer (119, 22)

    def __init__(self, width: int):
        super().__init__()
        # occupations halved to O(1); not saved: rebuilt identically from the rule above
        self.register_buffer("configurations", electron_configuration_table() / 2.0, persistent=False)
        self.linear = nn.Linear(len(ORBITALS), width)

    def forward(self, numbers: torch.Tensor) -> torch.Tensor:
        """numbers: (N,) atomic numbers -> (N, F)."""
        return self.linear(self.configurations[numbers])
