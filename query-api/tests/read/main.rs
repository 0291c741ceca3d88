//! End-to-end tests of query-api: writes through command-api, projected through RabbitMQ by the
//! projector, read back over HTTP, each test on its own database, namespace and Redis keys.

mod audit;
mod by_id;
mod catalog2;
mod cli;
mod console;
mod explain;
mod export;
mod facets;
mod feed;
mod lists;
mod methods;
mod openapi;
mod replica;
mod search;
mod status;
mod variants;
