"""Loopback emulators of MaxCompute and VikingDB (with TOS), served from this process, for
tests, demos and benchmarks without a cloud account:

    with arrowport.testing.emulate("maxcompute", narrow_rows=10_000) as emu:
        os.environ.update(emu.env)
        table = arrowport.read(emu.url("narrow")).read_all()

They are the emulators `arrowport emulate` serves: MaxCompute has the tables ``all_types``
(``rows``), ``narrow`` (``narrow_rows``), ``sales`` (partitioned by pt, dt; ``partition_rows``
per partition) and ``empty``; VikingDB has one collection of ``rows`` rows with
``dim``-dimensional vectors, whose export tasks finish after ``polls_to_done`` polls.
"""

from urllib.parse import urlencode

from . import _arrowport

__all__ = ["emulate", "Emulated"]


def emulate(kind, **settings):
    """Starts the ``"maxcompute"`` or ``"vikingdb"`` emulator on loopback ports.

    MaxCompute takes ``project``, ``rows``, ``narrow_rows``, ``partition_rows``, ``seed``;
    VikingDB takes ``collection``, ``rows``, ``seed``, ``dim``, ``polls_to_done``,
    ``rows_per_part``. Use it as a context manager, or call ``close()``.
    """
    return Emulated(_arrowport.emulate(kind, settings))


class Emulated:
    """A running emulator: its endpoints (``info``), credentials (``env``) and URLs."""

    def __init__(self, inner):
        self._inner = inner
        self.info = dict(inner.info)
        self.kind = self.info["kind"]

    @property
    def env(self):
        """The environment variables through which arrowport (and the official SDKs) find
        the emulator's credentials."""
        if self.kind == "maxcompute":
            return {
                "ALIBABA_CLOUD_ACCESS_KEY_ID": self.info["access_id"],
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET": self.info["secret_access_key"],
            }
        return {
            "VOLC_ACCESSKEY": self.info["access_key"],
            "VOLC_SECRETKEY": self.info["secret_key"],
        }

    def url(self, table=None, **options):
        """The URL of a MaxCompute table (``table``) or of the VikingDB collection, with the
        emulator's endpoints and ``options`` in its query."""
        i = self.info
        if self.kind == "maxcompute":
            if table is None:
                raise TypeError("url() needs the name of a table of the MaxCompute emulator")
            query = {"endpoint": i["endpoint"], "tunnel_endpoint": i["tunnel_endpoint"]}
            location = f"{i['project']}/{table}"
            scheme = "maxcompute"
        else:
            query = {
                "endpoint": i["api_endpoint"],
                "tos_endpoint": i["tos_endpoint"],
                "tos_path_style": "true",
                "tos_path": f"{i['bucket']}/exports",
                "poll_interval": "5ms",
            }
            location = table or i["collection"]
            scheme = "vikingdb"
        query.update({k: str(v) for k, v in options.items()})
        return f"{scheme}://{location}?{urlencode(query)}"

    def requests(self):
        """Every request served so far: dicts of service, method, path, query and status."""
        return self._inner.requests()

    def close(self):
        self._inner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return f"arrowport.testing.Emulated({self.kind!r}, {self.info})"
