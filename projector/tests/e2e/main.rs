//! End-to-end tests of event delivery: command-api (with its relay), RabbitMQ, the projector and
//! both read models, each test on its own database, namespace, queues and Redis keys.

mod audit;
mod delivery;
mod helpers;
mod images;
mod kill;
mod outage;
mod rebuild;
mod relay;
mod upgrade;
mod webhooks;
