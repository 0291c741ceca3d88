pub use catalog_testkit::*;
