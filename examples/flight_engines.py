"""Reading an `arrowport serve` Flight server from pyarrow, Dask and Ray.

One `GetFlightInfo` plans the source on the server (a MaxCompute download session, a
VikingDB export task, ...) and answers one endpoint per split; each worker then reads its
endpoints' tickets with `DoGet`. The tickets are plain bytes, so they travel to any worker
of any engine, and no scheduler of arrowport's is involved.

    ARROWPORT_FLIGHT_TOKEN=s3cret arrowport serve --listen 127.0.0.1:8815 &
    ARROWPORT_FLIGHT_TOKEN=s3cret python examples/flight_engines.py \
        grpc://127.0.0.1:8815 '{"url": "datagen://?rows=1000000"}'
"""

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.flight as flight


def connect(address, token):
    """A client and the call options that carry the bearer token."""
    client = flight.FlightClient(address)
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
    return client, options


def descriptor(request):
    """A descriptor: a configured source's name, or a JSON command (a dict)."""
    if isinstance(request, str):
        return flight.FlightDescriptor.for_path(request)
    return flight.FlightDescriptor.for_command(json.dumps(request))


def plan(address, token, request):
    """The server's plan: the schema and one ticket (bytes) per split."""
    client, options = connect(address, token)
    info = client.get_flight_info(descriptor(request), options)
    return info.schema, [e.ticket.ticket for e in info.endpoints]


def read_ticket(address, token, ticket):
    """One split, as a pyarrow Table: what each worker runs."""
    client, options = connect(address, token)
    return client.do_get(flight.Ticket(ticket), options).read_all()


def read_with_pyarrow(address, token, request, threads=4):
    schema, tickets = plan(address, token, request)
    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(lambda t: read_ticket(address, token, t), tickets))
    return pa.concat_tables(parts) if parts else schema.empty_table()


def read_with_dask(address, token, request):
    """A Dask DataFrame with one partition per split."""
    import dask.dataframe as dd

    schema, tickets = plan(address, token, request)
    meta = schema.empty_table().to_pandas()
    return dd.from_map(
        lambda t: read_ticket(address, token, t).to_pandas(), tickets, meta=meta, enforce_metadata=False
    )


def read_with_ray(address, token, request):
    """A Ray Dataset with one read task per split."""
    import ray.data
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    schema, tickets = plan(address, token, request)

    class FlightDatasource(Datasource):
        def estimate_inmemory_data_size(self):
            return None

        def get_read_tasks(self, parallelism, **_):
            def task(ticket):
                meta = BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None, input_files=None)
                return ReadTask(lambda: [read_ticket(address, token, ticket)], meta, schema=schema)

            return [task(t) for t in tickets]

    return ray.data.read_datasource(FlightDatasource())


if __name__ == "__main__":
    address, request = sys.argv[1], json.loads(sys.argv[2])
    token = os.environ["ARROWPORT_FLIGHT_TOKEN"]
    table = read_with_pyarrow(address, token, request)
    print(f"pyarrow: {table.num_rows} rows, {table.num_columns} columns")
    print(f"dask: {len(read_with_dask(address, token, request))} rows")
