//! Keeps rows in PostgreSQL through `wasmcloud:postgres@0.1.1-draft`.
//!
//! HTTP: `/setup` creates the table (a batch); `/add/<name>/<qty>` inserts a row of every
//! common type through a prepared statement; `/list` lists the rows, each value as its
//! `pg-value` case; `/bad-sql`, `/bad-param` and `/bad-token` show the errors.

wit_bindgen::generate!({ path: "../wit", world: "trellis:guests/ledger", generate_all });

use common::respond;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};
use wasmcloud::postgres::types::{Date, Offset, PgValue, Time, Timestamp, TimestampTz};
use wasmcloud::postgres::{prepared, query};

struct Ledger;

const TABLE: &str = "CREATE TABLE IF NOT EXISTS items (
    id serial PRIMARY KEY, name text NOT NULL, qty int4, big int8, price numeric(10, 2), ok bool,
    ratio float8, tags text[], data bytea, doc jsonb, ref uuid, day date, at timestamp, at_tz timestamptz, note varchar(20));
    TRUNCATE items;";

const INSERT: &str = "INSERT INTO items (name, qty, big, price, ok, ratio, tags, data, doc, ref, day, at, at_tz, note)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

fn row(name: &str, qty: i32) -> Vec<PgValue> {
    let day = Date::Ymd((2026, 11, 25));
    let noon = Time { hour: 12, min: 30, sec: 5, micro: 250 };
    vec![
        PgValue::Text(name.into()),
        PgValue::Int4(qty),
        PgValue::BigInt(9_000_000_000),
        PgValue::Numeric("19.99".into()),
        PgValue::Boolean(qty % 2 == 0),
        // 0.75 = 3 * 2^-2
        PgValue::Float8((3, -2, 1)),
        PgValue::TextArray(vec!["red".into(), "ripe".into()]),
        PgValue::Bytea(vec![0, 1, 254, 255]),
        PgValue::Jsonb(r#"{"origin": "farm"}"#.into()),
        PgValue::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
        PgValue::Date(day),
        PgValue::Timestamp(Timestamp { date: day, time: noon }),
        // 12:30:05 at UTC+2 is 10:30:05 UTC.
        PgValue::TimestampTz(TimestampTz { timestamp: Timestamp { date: day, time: noon }, offset: Offset::EasternHemisphereSecs(7200) }),
        PgValue::Null,
    ]
}

fn list() -> Result<String, String> {
    let rows = query::query("SELECT * FROM items WHERE qty >= $1 ORDER BY id", &[PgValue::Int4(0)]).map_err(|e| format!("{e:?}"))?;
    let lines: Vec<String> = rows
        .iter()
        .map(|row| row.iter().filter(|e| e.column_name != "id").map(|e| format!("{}={:?}", e.column_name, e.value)).collect::<Vec<_>>().join(" "))
        .collect();
    Ok(lines.join("\n"))
}

impl wasip2::exports::http::incoming_handler::Guest for Ledger {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let result = match parts.as_slice() {
            ["setup"] => query::query_batch(TABLE).map(|()| "ready".to_string()).map_err(|e| format!("{e:?}")),
            ["add", name, qty] => prepared::prepare(INSERT)
                .map_err(|e| format!("{e:?}"))
                .and_then(|token| prepared::exec(&token, &row(name, qty.parse().unwrap_or(0))).map_err(|e| format!("{e:?}")))
                .map(|n| format!("inserted {n}")),
            ["list"] => list(),
            ["bad-sql"] => query::query("SELEC 1", &[]).map(|_| String::new()).map_err(|e| format!("{e:?}")),
            ["bad-param"] => query::query("SELECT $1::int4 AS n", &[PgValue::Text("seven".into())]).map(|_| String::new()).map_err(|e| format!("{e:?}")),
            ["bad-token"] => prepared::exec("no-such-token", &[]).map(|n| n.to_string()).map_err(|e| format!("{e:?}")),
            _ => Err("unknown route".into()),
        };
        match result {
            Ok(body) => respond(out, 200, &body),
            Err(e) => respond(out, 500, &format!("error: {e}")),
        }
    }
}

wasip2::http::proxy::export!(Ledger);
