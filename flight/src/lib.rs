//! arrowport-flight: an Arrow Flight server in front of every registered source
//! (`arrowport serve`). `GetFlightInfo` plans a source and answers one endpoint per split,
//! whose ticket is the split's portable token sealed under the server's key; any Flight
//! client (pyarrow, Spark, Dask or Ray workers, DuckDB) fans the `DoGet`s out, so no
//! scheduler of ours is needed.
#![forbid(unsafe_code)]

mod admission;
mod auth;
mod catalog;
mod request;
mod server;
mod service;
mod status;
mod ticket;
mod writes;

pub use admission::Limits;
pub use auth::{Auth, TOKEN_ENV};
pub use catalog::Catalog;
pub use server::{ServeOptions, serve};
pub use ticket::TicketKey;
