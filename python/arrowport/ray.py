"""Ray Data reads an arrowport source split by split: a ``Datasource`` with one ``ReadTask``
per split, each reading its split in a Ray worker from the split's portable token.

    ds = arrowport.ray.read("maxcompute://p/big?region=cn-hangzhou")

The plan (and the remote state it needs) is made once, in the driver; workers take
credentials from their own environment.
"""

import ray.data
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from . import plan as _plan

__all__ = ["read", "ArrowportDatasource"]


def read(url, columns=None, **options):
    """A ``ray.data.Dataset`` of the source at ``url``, one read task per split. Keywords
    are the source's options, as for :func:`arrowport.read`."""
    return ray.data.read_datasource(ArrowportDatasource(url, columns=columns, **options))


class ArrowportDatasource(Datasource):
    """The splits of one plan of an arrowport source, as Ray read tasks."""

    def __init__(self, url, columns=None, **options):
        self._splits = _plan(url, columns=columns, create_task=True, progress=False, **options)
        self._schema = self._splits[0].schema if self._splits else None

    def estimate_inmemory_data_size(self):
        sizes = [s.bytes for s in self._splits]
        return sum(sizes) if sizes and None not in sizes else None

    def get_read_tasks(self, parallelism, per_task_row_limit=None, data_context=None):
        return [self._task(split, per_task_row_limit) for split in self._splits]

    def _task(self, split, per_task_row_limit):
        metadata = BlockMetadata(
            num_rows=split.rows,
            size_bytes=split.bytes,
            input_files=None,
            exec_stats=None,
        )
        return ReadTask(
            lambda split=split: [split.read(progress=False).read_all()],
            metadata,
            schema=self._schema,
            per_task_row_limit=per_task_row_limit,
        )
