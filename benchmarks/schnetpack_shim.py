"""Installed as sitecustomize.py in the schnetpack venv by training_race.py --setup.

schnetpack 2.0.4 uses two names that torch 2.13 dropped: it imports ``T_co`` from
torch.utils.data.dataloader, and passes ``verbose=`` to ReduceLROnPlateau. Neither changes training.
"""

import typing

import torch.optim.lr_scheduler as _schedulers
import torch.utils.data.dataloader as _dataloader

if not hasattr(_dataloader, "T_co"):
    _dataloader.T_co = typing.TypeVar("T_co", covariant=True)

_plateau_init = _schedulers.ReduceLROnPlateau.__init__


def _plateau_init_without_verbose(self, *args, verbose=None, **kwargs):
    _plateau_init(self, *args, **kwargs)


_schedulers.ReduceLROnPlateau.__init__ = _plateau_init_without_verbose
