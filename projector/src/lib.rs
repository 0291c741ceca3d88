//! projector: builds Catalog's read models from the event stream. The consumers, `rebuild`
//! and `verify` arrive with the read models; this version has no projection to run.
