"""Dask reads an arrowport source split by split: one partition per split, each read in its
own worker from the split's portable token.

    ddf = arrowport.dask.read("maxcompute://p/big?region=cn-hangzhou")

The plan (and the remote state it needs: a MaxCompute download session, a VikingDB export
task) is made once, here; workers only read their splits, with credentials from their own
environment.
"""

import dask.dataframe as dd

from . import plan as _plan

__all__ = ["read"]


def read(url, columns=None, **options):
    """A ``dask.dataframe.DataFrame`` of the source at ``url``, one partition per split.
    Keywords are the source's options, as for :func:`arrowport.read`."""
    splits = _plan(url, columns=columns, create_task=True, progress=False, **options)
    if not splits:
        raise ValueError(f"{url}: the plan has no splits")
    meta = splits[0].schema.empty_table().to_pandas()
    return dd.from_map(_read_split, splits, meta=meta, enforce_metadata=False)


def _read_split(split):
    return split.read(progress=False).to_pandas()
