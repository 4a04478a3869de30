"""Installed as sitecustomize.py in the schnetpack venv by training_race.py --setup.

schnetpack 2.0.4 uses two names that torch 2.13 dropped: it imports ``T_co`` from
torch.utils.data.dataloader, and passes ``verbose=`` to ReduceLROnPlateau. Neither changes training.
Its checkpoints hold the model object, which torch >= 2.6 refuses to load by default, so lightning's
resume reads them with ``weights_only=False``: the race resumes only from checkpoints it wrote itself.
"""

import typing

import lightning_fabric.plugins.io.torch_io as _torch_io
import torch.optim.lr_scheduler as _schedulers
import torch.utils.data.dataloader as _dataloader

if not hasattr(_dataloader, "T_co"):
    _dataloader.T_co = typing.TypeVar("T_co", covariant=True)

_plateau_init = _schedulers.ReduceLROnPlateau.__init__


def _plateau_init_without_verbose(self, *args, verbose=None, **kwargs):
    _plateau_init(self, *args, **kwargs)


_schedulers.ReduceLROnPlateau.__init__ = _plateau_init_without_verbose

_load_checkpoint = _torch_io.pl_load


def _load_own_checkpoint(path_or_url, map_location=None, weights_only=None):
    return _load_checkpoint(path_or_url, map_location, False if weights_only is None else weights_only)


_torch_io.pl_load = _load_own_checkpoint
