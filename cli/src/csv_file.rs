//! CSV import files: one row per variant, turned into the NDJSON lines `POST /imports` takes,
//! one product at a time.
//!
//! The header names the columns; their order is free and every column but `sku` may be left
//! out. The rows of one product follow each other: first the product's own row, then one row
//! per variant besides the master.
//!
//! | column | on the product's row | on a variant's row |
//! | --- | --- | --- |
//! | `sku` | the master's SKU | the product's master SKU again |
//! | `variant_sku` | empty | the variant's SKU |
//! | `name`, `name.<locale>` | the name, plain or per locale | — |
//! | `description`, `description.<locale>` | the description | — |
//! | `category`, `type` | the category, the product type's key | — |
//! | `price_amount`, `price_currency` | the base price (minor units, ISO 4217) | the variant's price |
//! | `stock` | the master's stock | the variant's stock |
//! | `attr.<name>` | a product attribute | a variant attribute |
//!
//! An empty cell leaves the field out. Attribute values are text; a header of
//! `attr.<name>:number`, `:bool` or `:json` reads the column's cells as such (`:json` for a
//! value per locale, `{"en": "…"}`).

use std::collections::BTreeMap;
use std::io::{Read, Write};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Map, Value};

/// How an attribute column's cells are read.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Number,
    Bool,
    Json,
}

/// What a column holds.
enum Column {
    Sku,
    VariantSku,
    /// `name` or `description`, plain (`None`) or in one locale.
    Text(&'static str, Option<String>),
    Category,
    Type,
    PriceAmount,
    PriceCurrency,
    Stock,
    Attribute(String, Kind),
}

fn column(header: &str) -> anyhow::Result<Column> {
    Ok(match header {
        "sku" => Column::Sku,
        "variant_sku" => Column::VariantSku,
        "name" => Column::Text("name", None),
        "description" => Column::Text("description", None),
        "category" => Column::Category,
        "type" => Column::Type,
        "price_amount" => Column::PriceAmount,
        "price_currency" => Column::PriceCurrency,
        "stock" => Column::Stock,
        other => {
            if let Some(locale) = other.strip_prefix("name.") {
                Column::Text("name", Some(locale.to_string()))
            } else if let Some(locale) = other.strip_prefix("description.") {
                Column::Text("description", Some(locale.to_string()))
            } else if let Some(attribute) = other.strip_prefix("attr.") {
                let (name, kind) = match attribute.rsplit_once(':') {
                    Some((name, "number")) => (name, Kind::Number),
                    Some((name, "bool")) => (name, Kind::Bool),
                    Some((name, "json")) => (name, Kind::Json),
                    Some((_, kind)) => bail!("column {other}: unknown kind {kind:?}"),
                    None => (attribute, Kind::Text),
                };
                Column::Attribute(name.to_string(), kind)
            } else {
                bail!("unknown column {other:?}")
            }
        }
    })
}

fn value(kind: Kind, cell: &str) -> anyhow::Result<Value> {
    Ok(match kind {
        Kind::Text => Value::String(cell.to_string()),
        Kind::Number => {
            let number: serde_json::Number = cell
                .parse()
                .map_err(|_| anyhow!("{cell:?} is not a number"))?;
            Value::Number(number)
        }
        Kind::Bool => match cell {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => bail!("{cell:?} is not true or false"),
        },
        Kind::Json => {
            serde_json::from_str(cell).with_context(|| format!("{cell:?} is not JSON"))?
        }
    })
}

/// One row read into its fields.
#[derive(Default)]
struct Row {
    sku: String,
    variant_sku: Option<String>,
    texts: BTreeMap<&'static str, Value>,
    category: Option<String>,
    product_type: Option<String>,
    amount: Option<i64>,
    currency: Option<String>,
    stock: Option<i64>,
    attributes: Map<String, Value>,
}

fn read_row(columns: &[Column], record: &csv::StringRecord) -> anyhow::Result<Row> {
    let mut row = Row::default();
    for (column, cell) in columns.iter().zip(record.iter()) {
        if cell.is_empty() {
            continue;
        }
        match column {
            Column::Sku => row.sku = cell.to_string(),
            Column::VariantSku => row.variant_sku = Some(cell.to_string()),
            Column::Text(field, None) => {
                row.texts.insert(field, Value::String(cell.to_string()));
            }
            Column::Text(field, Some(locale)) => {
                let text = row
                    .texts
                    .entry(field)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(map) = text {
                    map.insert(locale.clone(), Value::String(cell.to_string()));
                } else {
                    bail!("{field} is given both plain and per locale");
                }
            }
            Column::Category => row.category = Some(cell.to_string()),
            Column::Type => row.product_type = Some(cell.to_string()),
            Column::PriceAmount => {
                row.amount = Some(
                    cell.parse()
                        .map_err(|_| anyhow!("price_amount {cell:?} is not a whole number"))?,
                );
            }
            Column::PriceCurrency => row.currency = Some(cell.to_string()),
            Column::Stock => {
                row.stock = Some(
                    cell.parse()
                        .map_err(|_| anyhow!("stock {cell:?} is not a whole number"))?,
                );
            }
            Column::Attribute(name, kind) => {
                row.attributes.insert(
                    name.clone(),
                    value(*kind, cell).with_context(|| format!("attr.{name}"))?,
                );
            }
        }
    }
    if row.sku.is_empty() {
        bail!("sku is empty");
    }
    Ok(row)
}

fn price(row: &Row) -> Option<Value> {
    (row.amount.is_some() || row.currency.is_some())
        .then(|| json!({"amount": row.amount, "currency": row.currency}))
}

/// The product a product's row starts.
fn product(row: Row) -> Map<String, Value> {
    let mut product = Map::new();
    product.insert("sku".into(), Value::String(row.sku.clone()));
    if let Some(price) = price(&row) {
        product.insert("price".into(), price);
    }
    for (field, text) in row.texts {
        product.insert(field.into(), text);
    }
    let optional = [
        ("category", row.category.map(Value::String)),
        ("type", row.product_type.map(Value::String)),
        ("stock", row.stock.map(Value::from)),
    ];
    for (field, value) in optional {
        if let Some(value) = value {
            product.insert(field.into(), value);
        }
    }
    if !row.attributes.is_empty() {
        product.insert("attributes".into(), Value::Object(row.attributes));
    }
    product.insert("variants".into(), Value::Array(Vec::new()));
    product
}

/// A variant's row as the line's `variants` entry.
fn variant(row: Row, sku: String) -> Value {
    let mut variant = Map::new();
    variant.insert("sku".into(), Value::String(sku));
    if let Some(price) = price(&row) {
        variant.insert("prices".into(), Value::Array(vec![price]));
    }
    if let Some(stock) = row.stock {
        variant.insert("stock".into(), Value::from(stock));
    }
    if !row.attributes.is_empty() {
        variant.insert("attributes".into(), Value::Object(row.attributes));
    }
    Value::Object(variant)
}

/// Reads CSV from `source` and writes one NDJSON line per product to `out`; the number of
/// products. A row that cannot be read stops it, naming the row.
pub fn to_ndjson(source: impl Read, mut out: impl Write) -> anyhow::Result<u64> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(source);
    let columns: Vec<Column> = reader
        .headers()
        .context("reading the header")?
        .iter()
        .map(|h| column(h.trim()))
        .collect::<anyhow::Result<_>>()?;
    if !columns.iter().any(|c| matches!(c, Column::Sku)) {
        bail!("the header has no sku column");
    }
    let mut current: Option<Map<String, Value>> = None;
    let mut products = 0;
    for (n, record) in reader.records().enumerate() {
        // Row 1 is the header.
        let at = n + 2;
        let record = record.with_context(|| format!("row {at}"))?;
        let row = read_row(&columns, &record).with_context(|| format!("row {at}"))?;
        match row.variant_sku.clone() {
            None => {
                if let Some(done) = current.replace(product(row)) {
                    writeln!(out, "{}", Value::Object(done))?;
                    products += 1;
                }
            }
            Some(sku) => {
                let Some(product) = current.as_mut() else {
                    bail!("row {at}: a variant before any product's row");
                };
                if product["sku"] != Value::String(row.sku.clone()) {
                    bail!(
                        "row {at}: variant {sku} names product {}, but follows {}",
                        row.sku,
                        product["sku"]
                    );
                }
                if let Some(Value::Array(variants)) = product.get_mut("variants") {
                    variants.push(variant(row, sku));
                }
            }
        }
    }
    if let Some(done) = current {
        writeln!(out, "{}", Value::Object(done))?;
        products += 1;
    }
    out.flush()?;
    Ok(products)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(csv: &str) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        to_ndjson(csv.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out)?
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect())
    }

    #[test]
    fn rows_of_a_product_become_one_line_with_its_variants() {
        let csv = "sku,variant_sku,name.en,name.de,price_amount,price_currency,stock,attr.material,attr.size,attr.weight:number\n\
                   SHIRT,,Shirt,Hemd,1999,EUR,5,cotton,,180\n\
                   SHIRT,SHIRT-M,,,2100,EUR,3,,M,\n\
                   SHIRT,SHIRT-L,,,,,,,L,\n\
                   CUP,,Cup,,500,EUR,,,,\n";
        let got = lines(csv).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            json!({
                "sku": "SHIRT", "name": {"en": "Shirt", "de": "Hemd"},
                "price": {"amount": 1999, "currency": "EUR"}, "stock": 5,
                "attributes": {"material": "cotton", "weight": 180},
                "variants": [
                    {"sku": "SHIRT-M", "prices": [{"amount": 2100, "currency": "EUR"}], "stock": 3,
                     "attributes": {"size": "M"}},
                    {"sku": "SHIRT-L", "attributes": {"size": "L"}}
                ]
            })
        );
        assert_eq!(
            got[1],
            json!({"sku": "CUP", "name": {"en": "Cup"}, "price": {"amount": 500, "currency": "EUR"}, "variants": []})
        );
    }

    #[test]
    fn a_bad_row_is_named() {
        let err = lines("sku,stock\nA,1\nB,many\n").unwrap_err();
        assert!(format!("{err:#}").contains("row 3"), "{err:#}");
        let err = lines("sku,variant_sku\nA,\nB,B-1\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("row 3: variant B-1 names product B"),
            "{err:#}"
        );
        assert!(lines("name\nx\n").is_err(), "no sku column");
        assert!(lines("sku,colour\nA,red\n").is_err(), "an unknown column");
    }
}
