//! docs/API.md, the HTTP contract a user reads, names exactly the routes each service's OpenAPI
//! document describes: one `### METHOD /path` heading per operation, under the service's
//! section or under "On every service". A route added to the code without the contract, or
//! described in the contract without a handler, fails here.

use std::collections::BTreeSet;

type Routes = BTreeSet<(String, String)>;

const CONTRACT: &str = include_str!("../../docs/API.md");

/// The `### METHOD /path` headings under the level-2 sections named `sections`.
fn documented(sections: &[&str]) -> Routes {
    let mut routes = Routes::new();
    let mut current = "";
    for line in CONTRACT.lines() {
        if let Some(section) = line.strip_prefix("## ") {
            current = section.trim();
        } else if let Some(route) = line.strip_prefix("### ") {
            if sections.iter().any(|s| current.starts_with(s)) {
                let (method, path) = route
                    .trim()
                    .split_once(' ')
                    .unwrap_or_else(|| panic!("not `METHOD /path`: {route}"));
                routes.insert((method.to_lowercase(), path.trim().to_string()));
            }
        }
    }
    routes
}

/// Every (method, path) operation of a generated OpenAPI document.
fn described(document: &utoipa::openapi::OpenApi) -> Routes {
    catalog_testkit::operations(&serde_json::to_value(document).expect("a document serializes"))
}

#[test]
fn the_contract_names_every_command_route_and_no_other() {
    assert_eq!(
        documented(&["Command API", "On every service"]),
        described(&command_api::routes::document())
    );
}

#[test]
fn the_contract_names_every_read_route_and_no_other() {
    assert_eq!(
        documented(&["Query API", "On every service"]),
        described(&query_api::routes::document())
    );
}

#[test]
fn every_route_heading_is_in_a_service_section() {
    let all = documented(&["Command API", "Query API", "On every service"]);
    let headings = CONTRACT.lines().filter(|l| l.starts_with("### ")).count();
    assert_eq!(
        all.len(),
        headings,
        "a `###` heading outside the services' sections"
    );
}
